package deliver

import (
	"context"
	"time"
)

// Attempt is the outcome of one HTTP attempt for one event. A batched
// request yields one Attempt per event in it.
type Attempt struct {
	Event *Event
	// Number counts attempts of this event, from 1.
	Number int
	// Status is the HTTP status, 0 when no response was received.
	Status int
	// ResponseBody is the start of the response body, capped.
	ResponseBody string
	Duration     time.Duration
	// Error describes a failure ("" on success): transport error, timeout,
	// refused by network policy, non-2xx status.
	Error string
	At    time.Time
	// RetryAfter is the delay the receiver asked for with a Retry-After
	// header (seconds or an HTTP date), at most an hour; 0 when it sent
	// none or the attempt succeeded.
	RetryAfter time.Duration
	// Permanent marks a failure that retrying cannot fix until the
	// configuration changes: refused by the network policy, a malformed
	// URL or secret. Such events are recorded as failed and settled, not
	// retried.
	Permanent bool
}

// Success reports whether the attempt got a 2xx response.
func (a Attempt) Success() bool { return a.Status >= 200 && a.Status < 300 }

// Gone reports whether the receiver answered 410 Gone: it asks not to be
// sent this subscription's events again (callers auto-disable on it).
func (a Attempt) Gone() bool { return a.Status == 410 }

// Recorder receives the outcome of every attempt: the delivery log,
// counters and auto-disable live behind it. Record must not block for long
// (implementations batch); it is called from delivery goroutines.
type Recorder interface {
	Record(a Attempt)
}

// RecorderFunc adapts a function to Recorder.
type RecorderFunc func(Attempt)

// Record calls f(a).
func (f RecorderFunc) Record(a Attempt) { f(a) }

// Parked is an event handed to the durable retry queue.
type Parked struct {
	Event *Event
	// Attempts already made (0 when parked without trying, e.g. because
	// its endpoint's queue was full or its row has earlier events parked).
	Attempts int
	// LastError is the last attempt's error, if any.
	LastError string
	// NextAttempt is when the queue should try it next.
	NextAttempt time.Time
}

// RetryQueue durably parks events that could not be delivered at once. Once
// Park returns nil the events are durable and count as settled.
type RetryQueue interface {
	Park(ctx context.Context, events []Parked) error
	// HasParked reports whether the subscription has a parked event for
	// the row (orderKey) that was not delivered yet; later events of that
	// row must park behind it to keep per-row order.
	HasParked(subscriptionID int64, orderKey string) bool
}

// HoldQueue is a RetryQueue that can also hold events: park them as held,
// not to be tried until ReleaseHeld (walhook paused in hold mode). A
// Dispatcher whose RetryQueue implements it implements Hold and
// ReleaseHeld itself, so that held events keep their row's order behind
// events still in its memory.
type HoldQueue interface {
	RetryQueue
	// Hold durably stores events as held, in the order given (a row's
	// held events are released in that order, after its events parked
	// earlier). Once it returns nil they count as settled.
	Hold(ctx context.Context, events []Parked) error
	// ReleaseHeld makes every held event due now and returns how many
	// it released.
	ReleaseHeld(ctx context.Context) (int64, error)
}
