package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/walhook/walhook/internal/pgtest"
)

// TestRestartInsidePauseWindow: walhook is stopped; a row is written, then
// walhook is paused (skip) with plain SQL, then another row is written.
// walhook starts while still paused and must start in the state as of the
// slot's position (not paused), not the control row's latest: the first
// row is delivered, the second (in the window) is not, and after resume a
// third row is delivered again.
func TestRestartInsidePauseWindow(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	execSQL(t, dsn, itemsTable)
	r := newHookRecv(t)
	cfg := testConfig(t, `
source: {dsn: "${DSN}"}
delivery: {allow_networks: [127.0.0.0/8]}
subscribers:
  - name: items
    table: public.items
    target_url: ${URL}/items
    secret: ${SECRET}
    subscriptions: [{event: created}]
`, dsn, r.srv.URL)
	stop := startPipeline(t, cfg)
	waitSlot(t, dsn, cfg.Source.Slot)
	stop()

	insertItems(t, dsn, 1, 1, 1) // before the pause
	execSQL(t, dsn, `UPDATE walhook.control SET paused = true, mode = 'skip', updated_at = now() WHERE id = 1`)
	insertItems(t, dsn, 2, 2, 1) // inside the window
	startPipeline(t, cfg)
	r.waitRows(nil, []int64{1}, 30*time.Second)
	execSQL(t, dsn, `UPDATE walhook.control SET paused = false, updated_at = now() WHERE id = 1`)
	insertItems(t, dsn, 3, 3, 1) // after resume
	r.waitRows(nil, []int64{3}, 30*time.Second)
	waitSettled(t, dsn, cfg.Source.Slot)
	if got := rowIDs(r.delivered(nil)); fmt.Sprint(got) != "[1 3]" {
		t.Errorf("rows delivered: %v, want [1 3]: row 1 precedes the pause, row 2 is in the skip window", got)
	}
	r.check()
}
