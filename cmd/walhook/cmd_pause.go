package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/walhook/walhook/admin"
)

func init() { commands = append(commands, newPauseCmd, newResumeCmd) }

func newPauseCmd(g *globalFlags) *cobra.Command {
	var mode string
	var asJSON bool
	c := &cobra.Command{
		Use:   "pause",
		Short: "Pause webhooks for a bulk load (the global disable_webhooks switch)",
		Long: `pause sets walhook's pause switch. The switch is a row in walhook's schema that
travels through the WAL, so it takes effect at the exact point of the stream
where this command commits: changes committed before it are delivered, changes
committed after it are not, until walhook resume.

  --mode skip  drops the paused window's events (counted and logged, never sent)
  --mode hold  parks them durably in the retry queue; walhook resume delivers them

In both modes walhook keeps reading and the slot keeps advancing, so a pause
never makes the primary keep WAL. Pausing while paused changes the mode.
To skip a single transaction instead, run in it:
  SELECT pg_logical_emit_message(true, 'walhook', 'skip')`,
		Example: `  walhook pause --mode hold && psql -f bulk_load.sql && walhook resume`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if mode != admin.PauseSkip && mode != admin.PauseHold {
				return usagef("--mode %q is not a pause mode: write skip (drop the window's events) or hold (deliver them after resume)", mode)
			}
			return withState(cmd, g, func(ctx context.Context, s *stateAPI) error {
				s.by = whoami("cli")
				if err := s.Pause(ctx, mode); err != nil {
					return err
				}
				st, err := s.PauseState(ctx)
				if err != nil {
					return err
				}
				return newOutput(cmd, asJSON).emit(st, func(w io.Writer) { printPaused(w, mode) })
			})
		},
	}
	c.Flags().StringVar(&mode, "mode", admin.PauseSkip, "skip (drop the window's events) or hold (deliver them after resume)")
	addJSONFlag(c, &asJSON)
	return c
}

func printPaused(w io.Writer, mode string) {
	if mode == admin.PauseHold {
		fmt.Fprintln(w, "paused (hold): events of changes committed from now on are parked in the retry queue; walhook resume delivers them")
		return
	}
	fmt.Fprintln(w, "paused (skip): events of changes committed from now on are dropped (logged, never sent) until walhook resume")
}

func newResumeCmd(g *globalFlags) *cobra.Command {
	var release, asJSON bool
	c := &cobra.Command{
		Use:   "resume",
		Short: "Resume webhooks after walhook pause",
		Long: `resume clears the pause switch; like pause it takes effect at its point in the
WAL. After a pause in hold mode the parked events must be released: a running
walhook (the process holding the slot) releases them itself when its stream
reaches the resume, so that no event of the window is stranded. When no walhook
holds the slot, resume releases them at once; --release forces that.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withState(cmd, g, func(ctx context.Context, s *stateAPI) error {
				s.by = whoami("cli")
				res, err := s.resume(ctx, release)
				if err != nil {
					return err
				}
				return newOutput(cmd, asJSON).emit(res, func(w io.Writer) { printResumed(w, res) })
			})
		},
	}
	c.Flags().BoolVar(&release, "release", false, "release events held by a pause in hold mode now, even while a walhook process streams")
	addJSONFlag(c, &asJSON)
	return c
}

// resumeResult says what resume did.
type resumeResult struct {
	WasPaused bool   `json:"was_paused"`
	Mode      string `json:"mode,omitempty"`
	// Held is how many held events wait in the retry queue.
	Held int64 `json:"held"`
	// Released is how many held events this command released.
	Released int64 `json:"released"`
	// LeaderPID is the process streaming the slot (0: none).
	LeaderPID int `json:"leader_pid,omitempty"`
}

// resume clears the pause switch and releases held events when no walhook
// streams the slot (or release is set); otherwise the streaming router
// releases them at the resume's point in the WAL (router.Releaser).
func (s *stateAPI) resume(ctx context.Context, release bool) (resumeResult, error) {
	var res resumeResult
	before, err := s.PauseState(ctx)
	if err != nil {
		return res, err
	}
	res.WasPaused, res.Mode = before.Paused, before.Mode
	if err := s.Resume(ctx); err != nil {
		return res, err
	}
	depth, err := s.QueueDepth(ctx)
	if err != nil {
		return res, err
	}
	res.Held = depth["held"]
	leader, err := s.leader(ctx)
	if err != nil {
		return res, err
	}
	res.LeaderPID = leader.PID
	if res.Held > 0 && (release || leader.PID == 0) {
		if res.Released, err = s.db.ReleaseHeld(ctx); err != nil {
			return res, err
		}
	}
	return res, nil
}

func printResumed(w io.Writer, r resumeResult) {
	switch {
	case !r.WasPaused:
		fmt.Fprintln(w, "walhook was not paused; nothing to do")
	default:
		fmt.Fprintf(w, "resumed (was paused in %s mode): changes committed from now on are delivered\n", r.Mode)
	}
	switch {
	case r.Released > 0:
		fmt.Fprintf(w, "released %d held events into the retry queue; a running walhook delivers them\n", r.Released)
	case r.Held > 0:
		fmt.Fprintf(w, "%d held events wait; the walhook streaming the slot (pid %d) releases them when its stream reaches this resume (use --release to release them now)\n", r.Held, r.LeaderPID)
	}
}

// Pause sets the pause switch in mode skip or hold (admin.Control).
func (s *stateAPI) Pause(ctx context.Context, mode string) error {
	if mode != admin.PauseSkip && mode != admin.PauseHold {
		return admin.Invalid("pause mode %q is unknown; use skip (drop the window's events) or hold (deliver them after resume)", mode)
	}
	return s.db.SetPause(ctx, true, mode, s.by)
}

// Resume clears the pause switch (admin.Control); held events are
// released by the streaming router when it reaches the resume.
func (s *stateAPI) Resume(ctx context.Context) error {
	return s.db.SetPause(ctx, false, "", s.by)
}

// PauseState returns the switch as last set (admin.Control).
func (s *stateAPI) PauseState(ctx context.Context) (admin.PauseState, error) {
	p, err := s.db.PauseState(ctx)
	if err != nil {
		return admin.PauseState{}, err
	}
	if !p.Paused {
		return admin.PauseState{}, nil
	}
	return admin.PauseState{Paused: true, Mode: p.Mode, Since: p.UpdatedAt}, nil
}
