package router

import (
	"regexp"
	"testing"

	"github.com/walhook/walhook/cdc"
)

func TestEventIDFormat(t *testing.T) {
	t.Parallel()
	got := EventID(0x16B6C50, 3, "crm/created")
	if want := "evt_00000000016b6c50_3_" + string(appendHex(nil, uint64(fnv32a("crm/created")), 8)); got != want {
		t.Errorf("EventID = %q, want %q", got, want)
	}
	// FNV-1a 32 of "a" is 0xe40c292c: the hash is the published one, not
	// an accident of this implementation.
	if h := fnv32a("a"); h != 0xe40c292c {
		t.Errorf("fnv32a(a) = %#x, want 0xe40c292c", h)
	}
	if !regexp.MustCompile(`^evt_m_[0-9a-f]{24}$`).Match(appendManualID(nil)) {
		t.Errorf("manual id %s has the wrong shape", appendManualID(nil))
	}
	if string(appendManualID(nil)) == string(appendManualID(nil)) {
		t.Error("two manual ids are equal")
	}
}

// The same transaction routed by two Routers (a restart) yields the same
// ids; different positions or subscriptions yield different ones.
func TestEventIDStableAcrossRestarts(t *testing.T) {
	t.Parallel()
	route := func() []string {
		h := newHarness(t, twoSubscribersYAML, nil)
		h.tx(t, 0x16B6C50, insert(users, int64(1), "a", "a@x", nil), insert(users, int64(2), "b", "b@x", nil))
		var ids []string
		for _, ev := range h.sub.got() {
			ids = append(ids, ev.ID)
		}
		return ids
	}
	first, second := route(), route()
	if len(first) != 4 {
		t.Fatalf("got %d events, want 4", len(first))
	}
	seen := map[string]bool{}
	for i := range first {
		if first[i] != second[i] {
			t.Errorf("event %d: id %s after restart, was %s", i, second[i], first[i])
		}
		if seen[first[i]] {
			t.Errorf("id %s repeats", first[i])
		}
		seen[first[i]] = true
	}
	if EventID(cdc.LSN(1), 0, "k") == EventID(cdc.LSN(2), 0, "k") || EventID(1, 0, "k") == EventID(1, 1, "k") || EventID(1, 0, "k") == EventID(1, 0, "j") {
		t.Error("ids do not depend on every input")
	}
}

const twoSubscribersYAML = `
source:
  dsn: postgres://localhost/app
subscribers:
  - name: crm
    table: public.users
    target_url: https://crm.example.com/hooks
    subscriptions: [{event: created}, {event: updated}, {event: deleted}]
  - name: audit
    table: public.users
    target_url: https://audit.example.com/hooks
    subscriptions: [{event: created}]
`
