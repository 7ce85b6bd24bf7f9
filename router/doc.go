// Package router turns committed transactions into webhook events.
//
// A Router is a cdc.Handler. For each insert, update or delete it looks up
// the subscriptions of the table to the built-in event (created, updated,
// deleted) and to the table's conditional events whose conditions hold,
// shapes the row through each subscription's Projection, builds the JSON
// payload and submits a deliver.Event. A TRUNCATE becomes a `truncated`
// event; a transactional logical message with prefix "walhook" is either
// 'skip' (the rest of its transaction produces nothing) or a custom event.
//
// # Settlement
//
// Every event submitted is counted in its transaction's Txn before it is
// handed over, and its Settle is the Txn's Done. Commit seals the
// transaction whether it produced events or not, so filtered, skipped and
// paused transactions never hold the slot back. Events that are dropped on
// purpose (inactive subscription, pause in skip mode, skip message,
// `disabled: true`) are never counted and so are settled at once; events
// that cannot be built (a projected column the table lacks, a value that
// cannot be encoded, old values a condition needs but the server did not
// send) are recorded as failed attempts with the reason, count as settled,
// and the stream goes on. Only a failing Source, Submitter or Holder stops
// the stream.
//
// # Event ids
//
// An event's id is derived from its WAL position and subscription (see
// EventID), so a transaction routed again after a crash or reconnect yields
// the same ids, which receivers use to de-duplicate.
//
// # Steering through the stream
//
// walhook's control row and subscription tables are in the publication:
// when the stream passes a change to <schema>.control the pause state
// switches at exactly that point, and a change to <schema>.subscribers or
// <schema>.subscriptions is handed to the Source before the next change is
// routed: a Follower applies it to its copy of the tables (so lookups see
// the tables as of that point of the stream), any other Source is told to
// invalidate. These changes never become webhooks.
package router
