package router

import (
	"time"

	"github.com/walhook/walhook/cdc"
	"github.com/walhook/walhook/deliver"
)

// txState is the open transaction as the router sees it.
type txState struct {
	open       bool
	txn        Txn
	settle     func() // txn.Done, bound once per transaction
	commitLSN  cdc.LSN
	commitTime time.Time
	lsn        string
	// skip is set by a 'skip' message: the rest of the transaction
	// produces no events.
	skip bool
	// followed says a Follower applied changes of this transaction.
	followed bool
	// heldEvents wait for the Holder (pause in hold mode).
	heldEvents []deliver.Parked
	rows       recentRows
	// Counts for the transaction's log line.
	submitted, held, dropped, failed, skipped int
}

func (t *txState) reset(b *cdc.Begin) {
	t.open = true
	t.commitLSN = b.CommitLSN
	t.commitTime = b.CommitTime
	t.lsn = b.CommitLSN.String()
	t.skip = false
	t.followed = false
	t.heldEvents = t.heldEvents[:0]
	t.rows.reset()
	t.submitted, t.held, t.dropped, t.failed, t.skipped = 0, 0, 0, 0, 0
}

func (t *txState) close() {
	t.open = false
	t.txn = nil
	t.settle = nil
	clear(t.heldEvents)
	t.heldEvents = t.heldEvents[:0]
	t.rows.reset()
}

// windowCount counts what a pause window did, for the line logged at
// resume.
type windowCount struct {
	since   cdc.LSN
	skipped int
	held    int
}

// recentRowsLimit bounds each generation of recentRows.
const recentRowsLimit = 4096

// recentRows remembers, within one transaction, the last new row of each
// key of tables that have SQL-born events, so that a custom event emitted
// after the row's change carries the row as the transaction left it. It
// keeps two generations of at most recentRowsLimit keys: a huge
// transaction forgets its oldest rows, and their custom events fall back
// to reading the row.
type recentRows struct {
	cur, prev map[string]rowRef
}

type rowRef struct {
	rel  *cdc.Relation
	row  cdc.Row
	fill cdc.Row // the whole old row, when the server sent it
}

func (r *recentRows) reset() {
	clear(r.cur)
	clear(r.prev)
}

func (r *recentRows) put(key string, ref rowRef) {
	if r.cur == nil {
		r.cur, r.prev = map[string]rowRef{}, map[string]rowRef{}
	}
	if _, ok := r.cur[key]; !ok && len(r.cur) >= recentRowsLimit {
		r.prev, r.cur = r.cur, r.prev
		clear(r.cur)
	}
	r.cur[key] = ref
	delete(r.prev, key)
}

func (r *recentRows) forget(key string) {
	delete(r.cur, key)
	delete(r.prev, key)
}

func (r *recentRows) get(key string) (rowRef, bool) {
	if ref, ok := r.cur[key]; ok {
		return ref, true
	}
	ref, ok := r.prev[key]
	return ref, ok
}

// rowKey is the recentRows key of a row.
func rowKey(table, orderKey string) string { return table + "\x00" + orderKey }

// role says what a relation is to the router.
type role uint8

const (
	roleApp role = iota
	roleControl
	roleSubscriptions
)

// relInfo is what the router derives once per Relation.
type relInfo struct {
	table  string
	role   role
	keyIdx []int // replica identity columns
	ident  *Projection
	conds  []*boundEvent
	// keepRows says custom events may need this table's rows.
	keepRows bool
}

// relInfoLimit bounds the relation cache; ALTER TABLE creates new
// Relations, and old ones are forgotten wholesale past the limit.
const relInfoLimit = 1024

func (r *Router) info(rel *cdc.Relation) *relInfo {
	if ri, ok := r.rels[rel]; ok {
		return ri
	}
	if len(r.rels) >= relInfoLimit {
		clear(r.rels)
	}
	ri := &relInfo{table: rel.QualifiedName(), ident: identity(rel)}
	switch {
	case ri.table == r.controlTable:
		ri.role = roleControl
	case r.subTables[ri.table]:
		ri.role = roleSubscriptions
	}
	for i, c := range rel.Columns {
		if c.Key {
			ri.keyIdx = append(ri.keyIdx, i)
		}
	}
	for _, ce := range r.events[ri.table] {
		ri.conds = append(ri.conds, ce.bind(rel))
	}
	ri.keepRows = r.keepRows[ri.table]
	r.rels[rel] = ri
	r.relMu.Lock()
	r.lastRel[ri.table] = rel
	r.relMu.Unlock()
	return ri
}
