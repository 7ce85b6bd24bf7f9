package router

import "github.com/walhook/walhook/cdc"

// TrackerOf adapts a *cdc.Tracker to Tracker.
func TrackerOf(t *cdc.Tracker) Tracker { return cdcTracker{t} }

type cdcTracker struct{ t *cdc.Tracker }

func (c cdcTracker) Open(commitLSN cdc.LSN) Txn { return c.t.Open(commitLSN) }

// Seal seals a Txn that Open returned.
func (c cdcTracker) Seal(x Txn, end cdc.LSN) { c.t.Seal(x.(*cdc.Txn), end) }

// Discard discards a Txn that Open returned.
func (c cdcTracker) Discard(x Txn) { c.t.Discard(x.(*cdc.Txn)) }
