package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

func init() { commands = append(commands, newMigrateCmd) }

func newMigrateCmd(g *globalFlags) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "migrate",
		Short: "Create or upgrade walhook's state schema and print its version",
		Long: `migrate applies the state schema migrations embedded in this binary to
state.dsn (schema state.schema), in one transaction under an advisory lock, so
several processes may run it at once. It is idempotent; walhook run does the
same at start-up. A schema migrated by a newer walhook is refused.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, err := openState(ctx, cmd, g, false)
			if err != nil {
				return err
			}
			defer s.Close()
			before, _ := s.db.SchemaVersion(ctx) // 0 when the schema does not exist yet
			if err := s.db.Migrate(ctx); err != nil {
				return err
			}
			after, err := s.db.SchemaVersion(ctx)
			if err != nil {
				return err
			}
			res := map[string]any{"schema": s.db.Schema(), "from_version": before, "version": after}
			return newOutput(cmd, asJSON).emit(res, func(w io.Writer) {
				if before == after {
					fmt.Fprintf(w, "schema %s is up to date at version %d\n", s.db.Schema(), after)
					return
				}
				fmt.Fprintf(w, "schema %s migrated from version %d to %d\n", s.db.Schema(), before, after)
			})
		},
	}
	addJSONFlag(c, &asJSON)
	return c
}
