package deliver

import "time"

// The breaker of an endpoint lives in its fails and openUntil fields; see
// Options.BreakAfter.

// brokenUntil returns when the endpoint's open breaker closes, or the zero
// time when the caller may try the endpoint. Once an open breaker's time is
// up, one caller gets to probe and the breaker stays open for the others
// (for another breakFor) until the probe's outcome closes or reopens it.
func (ep *endpoint) brokenUntil(now time.Time, breakFor time.Duration) time.Time {
	u := ep.openUntil.Load()
	switch {
	case u == 0:
		return time.Time{}
	case now.UnixNano() < u:
		return time.Unix(0, u)
	case ep.openUntil.CompareAndSwap(u, now.Add(breakFor).UnixNano()):
		return time.Time{} // the probe
	}
	if u = ep.openUntil.Load(); u == 0 {
		return time.Time{}
	}
	return time.Unix(0, u)
}

// note counts an attempt's outcome and reports whether it opened the
// breaker (after BreakAfter consecutive failures).
func (ep *endpoint) note(a Attempt, breakAfter int, breakFor time.Duration) bool {
	if a.Success() {
		ep.delivered.Add(1)
		ep.fails.Store(0)
		ep.openUntil.Store(0)
		return false
	}
	if a.Permanent || breakAfter < 0 || ep.fails.Add(1) < int64(breakAfter) {
		return false
	}
	now := time.Now()
	old := ep.openUntil.Load()
	return now.UnixNano() >= old && ep.openUntil.CompareAndSwap(old, now.Add(breakFor).UnixNano())
}
