package main

import (
	"io"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
)

// globalFlags are the flags every subcommand shares.
type globalFlags struct {
	configPath string
	logLevel   string
	logFormat  string
}

func newRootCmd() *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:           "walhook",
		Short:         "Turn PostgreSQL row changes into signed webhooks",
		Long:          "walhook reads PostgreSQL's write-ahead log through logical replication and delivers\nrow changes as signed webhooks (Standard Webhooks), at least once, in per-row order.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usagef("%v (see 'walhook %s --help')", err, c.Name())
	})
	pf := root.PersistentFlags()
	pf.StringVarP(&g.configPath, "config", "c", envOr("WALHOOK_CONFIG", "walhook.yaml"), "configuration file (env WALHOOK_CONFIG)")
	pf.StringVar(&g.logLevel, "log-level", envOr("WALHOOK_LOG_LEVEL", "info"), "log level: debug, info, warn, error; per component as comp=level, e.g. info,cdc=debug")
	pf.StringVar(&g.logFormat, "log-format", envOr("WALHOOK_LOG_FORMAT", "json"), "log format: json or console")
	for _, add := range commands {
		root.AddCommand(add(g))
	}
	return root
}

// commands are the subcommand constructors; each file registers its own.
var commands []func(*globalFlags) *cobra.Command

func init() { zerolog.TimeFieldFormat = time.RFC3339Nano }

func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok && v != "" {
		return v
	}
	return def
}

// logging builds the root logger and per-component levels from the flags.
type logging struct {
	root   zerolog.Logger
	levels map[string]zerolog.Level
}

// newLogging parses --log-level ("info" or "info,cdc=debug,deliver=warn")
// and --log-format.
func (g *globalFlags) newLogging(w io.Writer) (*logging, error) {
	l := &logging{levels: map[string]zerolog.Level{}}
	def := zerolog.InfoLevel
	for _, part := range strings.Split(g.logLevel, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		comp, lvl, hasComp := strings.Cut(part, "=")
		if !hasComp {
			lvl = comp
		}
		level, err := zerolog.ParseLevel(strings.ToLower(lvl))
		if err != nil || lvl == "" {
			return nil, usagef("--log-level: %q is not a level: write one of debug, info, warn, error (optionally per component: info,cdc=debug)", lvl)
		}
		if hasComp {
			l.levels[comp] = level
		} else {
			def = level
		}
	}
	switch g.logFormat {
	case "json":
	case "console":
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	default:
		return nil, usagef("--log-format: %q is not a format: write json or console", g.logFormat)
	}
	l.root = zerolog.New(w).Level(def).With().Timestamp().Logger()
	l.levels[""] = def
	return l, nil
}

// For returns the logger of one component ("cdc", "deliver", …), with its
// own level when one was given.
func (l *logging) For(component string) zerolog.Logger {
	lg := l.root.With().Str("component", component).Logger()
	if lvl, ok := l.levels[component]; ok {
		lg = lg.Level(lvl)
	}
	return lg
}
