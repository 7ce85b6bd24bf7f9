package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/walhook/walhook/config"
)

func init() { commands = append(commands, newValidateCmd) }

func newValidateCmd(g *globalFlags) *cobra.Command {
	var offline bool
	c := &cobra.Command{
		Use:   "validate",
		Short: "Check a configuration file, and the database when it is reachable",
		Long: `validate loads the configuration and reports every problem at once, each as
file:line: key: what is wrong and what to write instead. Unless --offline is
given it then connects to source.dsn and checks that wal_level is logical, the
role may replicate, every configured table and projected column exists, and
tables whose conditional events need old values have REPLICA IDENTITY FULL.
If the database cannot be reached, that is reported and only the offline
checks count.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(g.configPath)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s: configuration ok (%d tables, %d events, %d subscribers)\n",
				g.configPath, len(cfg.Tables), len(cfg.Events), len(cfg.Subscribers))
			if offline {
				return nil
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 15*time.Second)
			defer cancel()
			reachable, err := preflight(ctx, cfg)
			if !reachable {
				fmt.Fprintf(out, "database not reachable, skipped its checks: %v\n", err)
				return nil
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(out, "database ok: wal_level=logical, role may replicate, tables and columns exist")
			return nil
		},
	}
	c.Flags().BoolVar(&offline, "offline", false, "check the file only; do not connect to the database")
	return c
}

// loadConfig loads and validates the configuration file; its errors are
// usage errors.
func loadConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, usageError{err}
	}
	return cfg, nil
}
