package cdc

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/walhook/walhook/internal/pgtest"
)

// trackingHandler opens a Txn per transaction, counts one pending event per
// change and leaves settling to the test.
type trackingHandler struct {
	tr   *Tracker
	mu   sync.Mutex
	open *Txn
	txns []*Txn
	ends []LSN
	cond chan struct{}
}

func (h *trackingHandler) Begin(_ context.Context, b *Begin) error {
	h.open = h.tr.Open(b.CommitLSN)
	return nil
}

func (h *trackingHandler) Change(context.Context, *Change) error {
	h.open.Add()
	return nil
}

func (h *trackingHandler) Commit(_ context.Context, c *Commit) error {
	h.tr.Seal(h.open, c.EndLSN)
	h.mu.Lock()
	h.txns = append(h.txns, h.open)
	h.ends = append(h.ends, c.EndLSN)
	close(h.cond)
	h.cond = make(chan struct{})
	h.mu.Unlock()
	return nil
}

func (h *trackingHandler) Rollback(context.Context) error {
	h.tr.Discard(h.open)
	return nil
}

func (h *trackingHandler) waitTxns(t *testing.T, n int) ([]*Txn, []LSN) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		h.mu.Lock()
		txns, ends, ch := h.txns, h.ends, h.cond
		h.mu.Unlock()
		if len(txns) >= n {
			return txns, ends
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("timed out waiting for %d transactions", n)
		}
	}
}

// statusCounter wraps a Settled callback and signals each call.
type statusCounter struct {
	settled func(LSN) LSN
	calls   chan struct{}
}

func (s *statusCounter) Settled(d LSN) LSN {
	v := s.settled(d)
	select {
	case s.calls <- struct{}{}:
	default:
	}
	return v
}

// waitStatuses waits until n more status updates were prepared.
func (s *statusCounter) waitStatuses(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-s.calls:
		case <-time.After(30 * time.Second):
			t.Fatal("no status update")
		}
	}
}

// flushWatch reads the slot's confirmed flush LSN and checks that it never
// goes backwards.
type flushWatch struct {
	conn *pgx.Conn
	slot string
	last LSN
}

func (w *flushWatch) read(t *testing.T) LSN {
	t.Helper()
	var s string
	err := w.conn.QueryRow(context.Background(), `SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1`, w.slot).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	lsn, err := ParseLSN(s)
	if err != nil {
		t.Fatal(err)
	}
	if lsn < w.last {
		t.Fatalf("confirmed flush LSN went backwards: %s after %s", lsn, w.last)
	}
	w.last = lsn
	return lsn
}

// until polls until the confirmed flush LSN reaches lsn.
func (w *flushWatch) until(t *testing.T, lsn LSN) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for w.read(t) < lsn {
		select {
		case <-poll.C:
		case <-deadline:
			t.Fatalf("confirmed flush LSN stuck at %s, want %s", w.last, lsn)
		}
	}
}

func TestFlushNeverPassesUnsettled(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	start := setup(t, dsn, []string{"public.t"}, `CREATE TABLE t (id int PRIMARY KEY)`)
	h := &trackingHandler{tr: NewTracker(start), cond: make(chan struct{})}
	sc := &statusCounter{settled: h.tr.Settled, calls: make(chan struct{}, 1)}
	run(t, StreamOptions{DSN: dsn, Start: start, Settled: sc.Settled, StatusInterval: 20 * time.Millisecond}, h)
	pgtest.Exec(t, dsn, `INSERT INTO t VALUES (1)`, `INSERT INTO t VALUES (2)`, `INSERT INTO t VALUES (3)`)
	txns, ends := h.waitTxns(t, 3)
	w := &flushWatch{conn: connect(t, dsn), slot: slotFor(t, dsn)}
	a, b, c := txns[0], txns[1], txns[2]

	check := func(step string, limit LSN) {
		t.Helper()
		sc.waitStatuses(t, 3)
		if got := w.read(t); got > limit {
			t.Fatalf("%s: confirmed flush %s passes unsettled commit %s", step, got, limit)
		}
		// The standby status carries the settled position as written,
		// flushed and applied alike, never what was merely received.
		var write, flush, replay string
		err := w.conn.QueryRow(context.Background(), `SELECT write_lsn::text, flush_lsn::text, replay_lsn::text FROM pg_stat_replication
			WHERE pid = (SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1)`, w.slot).Scan(&write, &flush, &replay)
		if err != nil {
			t.Fatalf("%s: read pg_stat_replication: %v", step, err)
		}
		if lsn, _ := ParseLSN(write); write != flush || flush != replay || lsn > limit || lsn == 0 {
			t.Fatalf("%s: status write %s flush %s replay %s, want equal and at most %s", step, write, flush, replay, limit)
		}
	}
	check("nothing settled", a.CommitLSN())
	b.Done()
	check("b settled before a", a.CommitLSN())
	a.Done()
	w.until(t, ends[1])
	check("a and b settled", c.CommitLSN())
	c.Done()
	w.until(t, ends[2])
	// Idle now: keepalives (and heartbeats) may move it further, never back.
	pgtest.Exec(t, dsn, `SELECT pg_logical_emit_message(false, 'x', 'y')`)
	check("idle", ^LSN(0))
}

func TestDrainOnShutdownReportsWhatSettles(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	start := setup(t, dsn, []string{"public.t"}, `CREATE TABLE t (id int PRIMARY KEY)`)
	h := &trackingHandler{tr: NewTracker(start), cond: make(chan struct{})}
	sc := &statusCounter{settled: h.tr.Settled, calls: make(chan struct{}, 1)}
	stop := run(t, StreamOptions{DSN: dsn, Start: start, Settled: sc.Settled, StatusInterval: time.Hour, DrainTimeout: 30 * time.Second}, h)
	pgtest.Exec(t, dsn, `INSERT INTO t VALUES (1)`)
	txns, ends := h.waitTxns(t, 1)
	select {
	case <-sc.calls:
	default:
	}
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	sc.waitStatuses(t, 2) // draining: the Stream keeps asking
	txns[0].Done()
	<-stopped
	// The last status update is on its way when Run returns; the server
	// applies it as it reads it, so wait for it rather than read at once.
	// Nothing else can move the slot now that the stream is gone.
	w := &flushWatch{conn: connect(t, dsn), slot: slotFor(t, dsn)}
	w.until(t, ends[0])
}

func TestIdleSlotAdvancesWhileOtherDatabasesWrite(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	other := pgtest.NewDB(t)
	start := setup(t, dsn, []string{"public.t"}, `CREATE TABLE t (id int PRIMARY KEY)`)
	tr := NewTracker(start)
	rec := newRecorder()
	run(t, StreamOptions{DSN: dsn, Start: start, Settled: tr.Settled, StatusInterval: 20 * time.Millisecond, HeartbeatInterval: 20 * time.Millisecond}, rec)
	pgtest.Exec(t, other, `CREATE TABLE busy (x int)`, `INSERT INTO busy SELECT generate_series(1, 10000)`)
	target := currentLSN(t, connect(t, other))
	w := &flushWatch{conn: connect(t, dsn), slot: slotFor(t, dsn)}
	w.until(t, target)
	if n := len(rec.waitTxns(t, 0)); n != 0 {
		t.Fatalf("%d transactions handed over; heartbeats must not be", n)
	}
}
