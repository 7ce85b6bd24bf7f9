// Command walhook is a change-data-capture sidecar: it reads PostgreSQL's
// write-ahead log through logical replication and turns row changes into
// signed webhooks.
//
// This package owns the CLI, the wiring of the other packages, signals,
// shutdown order and exit codes.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// Exit codes.
const (
	exitOK     = 0
	exitError  = 1 // the command ran and failed
	exitUsage  = 2 // bad flags, arguments or configuration
	exitSignal = 130
)

// usageError marks errors caused by how walhook was invoked or configured:
// they exit with exitUsage.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := execute(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// execute runs the CLI with args and maps its outcome to an exit code. It is
// the one place where errors become CLI output.
func execute(ctx context.Context, args []string) int {
	return executeTo(ctx, args, os.Stdout, os.Stderr)
}

// executeTo is execute with the command's output and errors sent to out
// and errOut.
func executeTo(ctx context.Context, args []string, out, errOut io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(out)
	root.SetErr(errOut)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(errOut, "walhook: %v\n", err)
	var ue usageError
	switch {
	case errors.As(err, &ue):
		return exitUsage
	case errors.Is(err, context.Canceled):
		return exitSignal
	default:
		return exitError
	}
}
