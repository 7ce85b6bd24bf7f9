package deliver

import (
	"crypto/sha256"
	"encoding/hex"
)

// BatchBody is the request body of a batched request:
//
//	{"type":"batch","id":"<BatchID>","events":[<payload>,<payload>,…]}
//
// Each payload is an event's Body, unchanged, in order. The body is signed
// as a whole. Receivers de-duplicate on each payload's "id": a redelivered
// event may arrive in a batch of different composition.
func BatchBody(events []*Event) []byte {
	return batchBody(BatchID(events), events)
}

// batchBody is BatchBody with the id already computed.
func batchBody(id string, events []*Event) []byte {
	n := len(`{"type":"batch","id":"","events":[]}`) + len(id)
	for _, ev := range events {
		n += len(ev.Body) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, `{"type":"batch","id":"`...)
	b = append(b, id...)
	b = append(b, `","events":[`...)
	for i, ev := range events {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, ev.Body...)
	}
	return append(b, "]}"...)
}

// BatchID is the webhook-id of a batch: "batch_" and a hash of its events'
// ids in order, so the same events in the same order always get the same id.
func BatchID(events []*Event) string {
	h := sha256.New()
	for _, ev := range events {
		h.Write([]byte(ev.ID))
		h.Write([]byte{0})
	}
	var sum [sha256.Size]byte
	return "batch_" + hex.EncodeToString(h.Sum(sum[:0])[:16])
}
