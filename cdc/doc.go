// Package cdc reads a PostgreSQL database's changes through logical
// replication (the pgoutput plugin) and hands them, transaction by
// transaction, to a Handler. It knows nothing about webhooks.
//
// # Setting up
//
// Check inspects the server and the tables (wal_level, the REPLICATION
// privilege, missing tables and columns, replica identity, primary keys) and
// reports every problem at once. Prepare creates or aligns the publication
// and creates or validates the replication slot, and returns the slot's
// confirmed flush LSN: where streaming starts. A slot is never dropped or
// recreated by walhook; an invalidated slot is reported as *SlotLostError.
//
// # Streaming
//
// A Stream connects, starts replication at a position and calls the Handler
// with Begin, each Change as it arrives (a transaction is never buffered
// whole, so memory stays bounded), and Commit. Column values are converted
// from PostgreSQL's text format into the Go values documented on Row, by a
// decoder chosen once per column when the server describes the table.
//
// # At-least-once delivery
//
// The server keeps the WAL, and re-sends every transaction that committed
// after the slot's confirmed flush position, until walhook reports a flush
// position past it. walhook reports a transaction's end only once it is
// settled, meaning every event born from it has been delivered, durably
// queued for retry, or deliberately dropped. The Stream learns that through
// StreamOptions.Settled, usually a Tracker:
//
//   - at Begin the consumer calls Tracker.Open; for each event it will hand
//     on, Txn.Add before handing it on and Txn.Done once it is settled; at
//     Commit, Tracker.Seal with the Commit's EndLSN;
//   - the Stream calls Settled before every standby status update (at least
//     every StatusInterval, on every keepalive that asks for a reply, and
//     once more when it stops) and reports the result as the write, flush
//     and apply positions. It never reports the position it merely received.
//
// Therefore a crash at any instant loses nothing: on restart, the slot's
// confirmed flush LSN is at or before the end of the oldest transaction with
// an unsettled event, and streaming from there hands that transaction (and
// maybe some settled ones after it) to the Handler again. Consumers must
// tolerate seeing a transaction more than once across restarts; a change is
// identified for ever by its Begin's CommitLSN and its Change.Index, which
// is what makes de-duplication (stable event ids) possible.
//
// Within one Stream.Run, a transaction whose Commit was handed over is never
// handed over again: after a lost connection the Stream calls
// Handler.Rollback for a transaction left open, reconnects with capped
// exponential back-off, and restarts at the end of the last Commit handed
// over; the server skips transactions that committed before that point and
// sends the interrupted one again, whole.
//
// A clean stop (ctx cancelled) rolls back an open transaction on the
// Handler, reports once more, and with StreamOptions.DrainTimeout first waits
// for in-flight work to settle, so that a restart redelivers little.
//
// A Handler may block to apply back-pressure, but the Stream reads and
// reports nothing meanwhile: blocking longer than the server's
// wal_sender_timeout (default 60s) makes the server drop the connection,
// after which the Stream reconnects and the open transaction is sent again.
//
// When no transaction is open and nothing is pending, the Stream may report
// a keepalive's WAL end, so that a slot whose tables see no writes still
// advances; HeartbeatInterval writes a non-transactional logical message so
// that this also holds for a database that is idle while others write WAL.
package cdc
