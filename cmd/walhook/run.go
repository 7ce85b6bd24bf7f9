package main

import (
	"os"

	"github.com/spf13/cobra"
)

func init() { commands = append(commands, newRunCmd) }

func newRunCmd(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "run",
		Short: "Run the sidecar: stream the WAL and deliver webhooks",
		Long: `run checks the database, migrates walhook's schema, syncs the configured
subscribers, takes the leader lock for the slot (other processes wait and take
over), creates or validates the publication and slot, and delivers webhooks
until SIGINT/SIGTERM. On a signal it stops reading, drains in-flight
deliveries (bounded), reports the final settled position and exits 0.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			lg, err := g.newLogging(os.Stderr)
			if err != nil {
				return err
			}
			cfg, err := loadConfig(g.configPath)
			if err != nil {
				return err
			}
			return runPipeline(cmd.Context(), cfg, lg)
		},
	}
}
