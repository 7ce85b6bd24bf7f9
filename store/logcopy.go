package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/walhook/walhook/deliver"
)

// logColumns are the delivery_log columns a COPY writes, in the order
// logEncoder.row encodes them, with the types of migration 0001.
var logColumns = []string{
	"subscription_id", "subscriber_id", "event_id", "event_name", "table_name",
	"attempt_number", "request_payload", "response_status", "response_body",
	"delivery_duration_ms", "error_message", "created_at",
}

// copyHeader starts a binary COPY stream: signature, flags, no extension.
var copyHeader = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// pgEpochMicros is 2000-01-01 00:00:00 UTC, PostgreSQL's timestamp epoch,
// in Unix microseconds.
const pgEpochMicros = 946684800000000

// logEncoder builds the binary COPY stream of delivery-log rows by
// appending to a buffer: no per-value type lookup, no boxing, and event
// bodies copied once, straight from the event (pgx.CopyFrom with []any
// rows cost about 2 µs of walhook's CPU per row, a tenth of it in batch
// mode).
type logEncoder struct{ buf []byte }

func (e *logEncoder) int8(v int64) {
	e.buf = binary.BigEndian.AppendUint32(e.buf, 8)
	e.buf = binary.BigEndian.AppendUint64(e.buf, uint64(v))
}

func (e *logEncoder) int4(v int32) {
	e.buf = binary.BigEndian.AppendUint32(e.buf, 4)
	e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(v))
}

func (e *logEncoder) null() {
	e.buf = binary.BigEndian.AppendUint32(e.buf, 0xFFFFFFFF)
}

func (e *logEncoder) text(s string) {
	e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(len(s)))
	e.buf = append(e.buf, s...)
}

// body appends b as text, cleaned like cleanText when it needs to be.
func (e *logEncoder) body(b []byte) {
	if !utf8.Valid(b) || bytes.IndexByte(b, 0) >= 0 {
		e.text(cleanText(string(b), 0))
		return
	}
	e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(len(b)))
	e.buf = append(e.buf, b...)
}

func (e *logEncoder) timestamptz(t time.Time) {
	e.int8(t.UnixMicro() - pgEpochMicros)
}

// row appends one attempt's row; withPayload false leaves
// request_payload NULL.
func (e *logEncoder) row(a *deliver.Attempt, maxBody int, withPayload bool) {
	ev := a.Event
	e.buf = binary.BigEndian.AppendUint16(e.buf, uint16(len(logColumns)))
	if ep := ev.Endpoint; ep != nil && ep.SubscriptionID != 0 {
		e.int8(ep.SubscriptionID)
		e.int8(ep.SubscriberID)
	} else {
		e.null()
		e.null()
	}
	e.text(cleanText(ev.ID, 0))
	e.text(cleanText(ev.Name, 0))
	e.text(cleanText(ev.Table, 0))
	e.int4(int32(a.Number))
	if withPayload {
		e.body(ev.Body)
	} else {
		e.null()
	}
	if a.Status != 0 {
		e.int4(int32(a.Status))
	} else {
		e.null()
	}
	e.text(cleanText(a.ResponseBody, maxBody))
	e.int4(durationMS(a.Duration))
	if a.Error != "" {
		e.text(cleanText(a.Error, 4096))
	} else {
		e.null()
	}
	at := a.At
	if at.IsZero() {
		at = time.Now()
	}
	e.timestamptz(at)
}

// copyLog writes the batch's delivery-log rows in one binary COPY inside
// tx. With Options.LogFailedPayloadsOnly, successful attempts are logged
// without request_payload.
func (db *DB) copyLog(ctx context.Context, tx pgx.Tx, batch []deliver.Attempt) error {
	if !slices.ContainsFunc(batch, func(a deliver.Attempt) bool { return a.Event != nil }) {
		return nil
	}
	r := &logRows{batch: batch, maxBody: db.opts.MaxLoggedBody, failedPayloadsOnly: db.opts.LogFailedPayloadsOnly}
	r.enc.buf = make([]byte, 0, logChunk+4096)
	if _, err := tx.Conn().PgConn().CopyFrom(ctx, r, db.copyLogSQL()); err != nil {
		return fmt.Errorf("copy delivery log rows: %w", err)
	}
	return nil
}

// logChunk is about how many bytes of rows logRows encodes at a time:
// the COPY streams a batch of any size through one small buffer.
const logChunk = 32 << 10

// logRows is a batch's binary COPY stream, encoded as it is read.
type logRows struct {
	batch              []deliver.Attempt
	maxBody            int
	failedPayloadsOnly bool

	enc     logEncoder
	off     int // read position in enc.buf
	next    int // next attempt to encode
	started bool
	done    bool
}

// Read implements io.Reader.
func (r *logRows) Read(p []byte) (int, error) {
	for r.off == len(r.enc.buf) {
		if r.done {
			return 0, io.EOF
		}
		r.fill()
	}
	n := copy(p, r.enc.buf[r.off:])
	r.off += n
	return n, nil
}

// fill encodes the next chunk of rows, with the header first and the
// trailer last.
func (r *logRows) fill() {
	r.enc.buf, r.off = r.enc.buf[:0], 0
	if !r.started {
		r.enc.buf = append(r.enc.buf, copyHeader...)
		r.started = true
	}
	for r.next < len(r.batch) && len(r.enc.buf) < logChunk {
		a := &r.batch[r.next]
		r.next++
		if a.Event != nil {
			r.enc.row(a, r.maxBody, !r.failedPayloadsOnly || !a.Success())
		}
	}
	if r.next == len(r.batch) {
		r.enc.buf = binary.BigEndian.AppendUint16(r.enc.buf, 0xFFFF)
		r.done = true
	}
}

func (db *DB) copyLogSQL() string {
	return db.render(`COPY {{schema}}.delivery_log (` + strings.Join(logColumns, ", ") + `) FROM STDIN (FORMAT binary)`)
}

// applyLogPersistence makes delivery_log UNLOGGED or logged, as
// Options.UnloggedDeliveryLog says, when it is not so already. The switch
// rewrites the table under an ACCESS EXCLUSIVE lock (to logged: into the
// WAL, which the source's walsender then decodes once); it waits at most
// lockWait for that lock, and on failure leaves the table as it is with a
// warning: the log is then merely slower or more durable than asked.
func (db *DB) applyLogPersistence(ctx context.Context, lockWait time.Duration) {
	if db.opts.DisableDeliveryLog {
		return
	}
	want, verb := "p", "LOGGED"
	if db.opts.UnloggedDeliveryLog {
		want, verb = "u", "UNLOGGED"
	}
	table := db.render(`{{schema}}.delivery_log`)
	var got string
	if err := db.pool.QueryRow(ctx, `SELECT relpersistence::text FROM pg_class WHERE oid = $1::regclass`, table).Scan(&got); err != nil {
		db.log.Warn().Err(err).Msg("read delivery log persistence")
		return
	}
	if got == want {
		return
	}
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, fmt.Sprintf(`SET LOCAL lock_timeout = %d`, lockWait.Milliseconds())); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `ALTER TABLE `+table+` SET `+verb)
		return err
	})
	if err != nil {
		db.log.Warn().Err(err).Str("want", verb).Msg("switch delivery log persistence (logs.unlogged); table left as it was")
		return
	}
	db.log.Info().Str("now", verb).Msg("delivery log persistence switched (logs.unlogged)")
}
