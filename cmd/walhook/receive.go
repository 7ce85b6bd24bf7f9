package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"
)

func init() { commands = append(commands, newReceiveCmd) }

func newReceiveCmd(g *globalFlags) *cobra.Command {
	var listen string
	var secrets []string
	var quiet bool
	c := &cobra.Command{
		Use:   "receive",
		Short: "Run a webhook receiver that verifies signatures and prints each event",
		Long: `receive is a small receiver for trying walhook out and for debugging a
subscriber: it verifies each request's Standard Webhooks signature with the
given secrets (rejecting bad ones with 401) and prints the event.`,
		Example: "  walhook receive --listen 127.0.0.1:9000 --secret whsec_…",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, s := range secrets {
				if _, err := parseSecretFlag(s); err != nil {
					return err
				}
			}
			rc := &receiver{secrets: secrets, out: os.Stdout, quiet: quiet}
			return serveUntilDone(cmd.Context(), &http.Server{Addr: listen, Handler: rc, ReadHeaderTimeout: 5 * time.Second})
		},
	}
	c.Flags().StringVar(&listen, "listen", "127.0.0.1:9000", "address to listen on")
	c.Flags().StringArrayVar(&secrets, "secret", nil, "whsec_ secret to verify with (repeat during key rotation); none accepts unsigned requests")
	c.Flags().BoolVar(&quiet, "quiet", false, "print one line per event, without the body")
	return c
}

// serveUntilDone serves until ctx ends, then shuts the server down
// gracefully.
func serveUntilDone(ctx context.Context, srv *http.Server) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return fmt.Errorf("listen on %s: %w", srv.Addr, err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shut down receiver: %w", err)
	}
	return nil
}
