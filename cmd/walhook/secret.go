package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/walhook/walhook/deliver"
)

func init() { commands = append(commands, newSecretCmd) }

func newSecretCmd(*globalFlags) *cobra.Command {
	c := &cobra.Command{
		Use:   "secret",
		Short: "Manage webhook signing secrets",
	}
	c.AddCommand(&cobra.Command{
		Use:   "generate",
		Short: "Print a new random signing secret (whsec_…), the counterpart of generate_secret()",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), deliver.GenerateSecret())
			return err
		},
	})
	return c
}

// parseSecretFlag checks a whsec_ secret given on the command line.
func parseSecretFlag(s string) ([]byte, error) {
	key, err := deliver.ParseSecret(s)
	if err != nil {
		return nil, usagef("--secret: %v", err)
	}
	return key, nil
}
