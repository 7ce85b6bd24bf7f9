package cdc

import "context"

// Handler consumes committed transactions in commit order: Begin, then the
// transaction's Changes in order, then Commit. Calls are made from one
// goroutine and never overlap. A Handler may block to apply back-pressure;
// the stream waits.
//
// When the replication connection is lost in the middle of a transaction the
// stream calls Rollback: the transaction opened by the last Begin will be
// sent again, whole, after reconnecting. A transaction whose Commit was
// handed over is never sent again by the same Stream.
//
// An error returned by any method stops the stream: Run returns it.
type Handler interface {
	Begin(ctx context.Context, b *Begin) error
	Change(ctx context.Context, c *Change) error
	Commit(ctx context.Context, c *Commit) error
	Rollback(ctx context.Context) error
}
