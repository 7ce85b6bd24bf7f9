package admin_test

import (
	"context"
	"encoding/json"
	"time"

	"github.com/walhook/walhook/admin"
)

// fakeSecret must never appear in any response.
const fakeSecret = "whsec_c2VjcmV0LXZhbHVlLXRoYXQtbXVzdC1uZXZlci1sZWFrXy9Q"

type fakeSubscribers struct {
	ListFunc      func(ctx context.Context) ([]admin.Subscriber, error)
	GetFunc       func(ctx context.Context, id int64) (admin.Subscriber, error)
	SetActiveFunc func(ctx context.Context, id int64, active bool) error
	ResetFunc     func(ctx context.Context, id int64) error
}

func (f *fakeSubscribers) ListSubscribers(ctx context.Context) ([]admin.Subscriber, error) {
	return f.ListFunc(ctx)
}
func (f *fakeSubscribers) GetSubscriber(ctx context.Context, id int64) (admin.Subscriber, error) {
	return f.GetFunc(ctx, id)
}
func (f *fakeSubscribers) SetSubscriberActive(ctx context.Context, id int64, active bool) error {
	return f.SetActiveFunc(ctx, id, active)
}
func (f *fakeSubscribers) ResetSubscriberCounters(ctx context.Context, id int64) error {
	return f.ResetFunc(ctx, id)
}

type fakeTester struct {
	TestFunc func(ctx context.Context, id int64, payload json.RawMessage) (admin.TestResult, error)
}

func (f *fakeTester) TestSubscriber(ctx context.Context, id int64, payload json.RawMessage) (admin.TestResult, error) {
	return f.TestFunc(ctx, id, payload)
}

type fakeLogs struct {
	ListFunc   func(ctx context.Context, f admin.LogFilter) ([]admin.LogEntry, error)
	GetFunc    func(ctx context.Context, id int64) (admin.LogEntry, error)
	StatsFunc  func(ctx context.Context, days int) (admin.LogStats, error)
	ErrorsFunc func(ctx context.Context, limit int) ([]admin.LogEntry, error)
}

func (f *fakeLogs) ListLogs(ctx context.Context, flt admin.LogFilter) ([]admin.LogEntry, error) {
	return f.ListFunc(ctx, flt)
}
func (f *fakeLogs) GetLog(ctx context.Context, id int64) (admin.LogEntry, error) {
	return f.GetFunc(ctx, id)
}
func (f *fakeLogs) LogStats(ctx context.Context, days int) (admin.LogStats, error) {
	return f.StatsFunc(ctx, days)
}
func (f *fakeLogs) RecentErrors(ctx context.Context, limit int) ([]admin.LogEntry, error) {
	return f.ErrorsFunc(ctx, limit)
}

type fakeCache struct {
	StatsFunc func(ctx context.Context) (admin.CacheStats, error)
	ClearFunc func(ctx context.Context, table, event string) error
	WarmFunc  func(ctx context.Context) (int, error)
}

func (f *fakeCache) CacheStats(ctx context.Context) (admin.CacheStats, error) {
	return f.StatsFunc(ctx)
}
func (f *fakeCache) ClearCache(ctx context.Context, table, event string) error {
	return f.ClearFunc(ctx, table, event)
}
func (f *fakeCache) WarmCache(ctx context.Context) (int, error) { return f.WarmFunc(ctx) }

type fakeControl struct {
	PauseFunc  func(ctx context.Context, mode string) error
	ResumeFunc func(ctx context.Context) error
	StateFunc  func(ctx context.Context) (admin.PauseState, error)
}

func (f *fakeControl) Pause(ctx context.Context, mode string) error { return f.PauseFunc(ctx, mode) }
func (f *fakeControl) Resume(ctx context.Context) error             { return f.ResumeFunc(ctx) }
func (f *fakeControl) PauseState(ctx context.Context) (admin.PauseState, error) {
	return f.StateFunc(ctx)
}

type fakeSender struct {
	SendFunc func(ctx context.Context, table string, key any, event string, c json.RawMessage) (int, error)
}

func (f *fakeSender) Send(ctx context.Context, table string, key any, event string, c json.RawMessage) (int, error) {
	return f.SendFunc(ctx, table, key, event, c)
}

type fakeRetries struct {
	DepthFunc     func(ctx context.Context) (map[string]int64, error)
	RedeliverFunc func(ctx context.Context, r admin.Redelivery) (int, error)
}

func (f *fakeRetries) QueueDepth(ctx context.Context) (map[string]int64, error) {
	return f.DepthFunc(ctx)
}
func (f *fakeRetries) Redeliver(ctx context.Context, r admin.Redelivery) (int, error) {
	return f.RedeliverFunc(ctx, r)
}

type fakeLag struct {
	LagFunc func(ctx context.Context) (int64, error)
}

func (f *fakeLag) SlotLagBytes(ctx context.Context) (int64, error) { return f.LagFunc(ctx) }

type fakeHealth struct {
	ReadyFunc func(ctx context.Context) error
}

func (f *fakeHealth) Ready(ctx context.Context) error { return f.ReadyFunc(ctx) }

var t0 = time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC)

// fixtureSubscribers are three subscribers, one per health.
func fixtureSubscribers() []admin.Subscriber {
	recent := []admin.DeliverySummary{
		{ID: 9, CreatedAt: t0, IsSuccess: true, ResponseStatus: 200},
		{ID: 8, CreatedAt: t0, IsSuccess: false, ResponseStatus: 500},
	}
	return []admin.Subscriber{
		{ID: 1, Name: "CRM Sync", Table: "public.users", TargetURL: "https://crm.example.com/hooks", IsActive: true,
			TotalDeliveries: 100, SuccessfulDeliveries: 99, FailedDeliveries: 1, SuccessRate: 99,
			AutoDisableAfterFailures: 10, MaxRetries: 3, RetryDelay: time.Minute, Timeout: 30 * time.Second,
			SecretHint: admin.SecretHint(fakeSecret),
			Subscriptions: []admin.Subscription{{ID: 11, Event: "created", Endpoint: "https://crm.example.com/hooks", IsActive: true,
				TotalDeliveries: 100, SuccessfulDeliveries: 99, FailedDeliveries: 1, SuccessRate: 99, RecentDeliveries: recent}}},
		{ID: 2, Name: "Billing Hooks", Table: "public.orders", TargetURL: "https://billing.example.com", IsActive: true,
			ConsecutiveFailures: 2, AutoDisableAfterFailures: 10, TotalDeliveries: 10, SuccessfulDeliveries: 8, FailedDeliveries: 2, SuccessRate: 80,
			SecretHint: fakeSecret /* a careless adapter: admin must mask it */},
		{ID: 3, Name: "Dead Receiver", Table: "public.users", TargetURL: "https://dead.example.com", IsActive: false,
			ConsecutiveFailures: 10, AutoDisableAfterFailures: 10, DisabledReason: "10 consecutive failures",
			TotalDeliveries: 10, FailedDeliveries: 10},
	}
}

func fixtureLog() admin.LogEntry {
	return admin.LogEntry{ID: 42, SubscriptionID: 11, SubscriberID: 1, Subscriber: "CRM Sync", EventID: "evt_0_16B6C50_0_11",
		Event: "created", Table: "public.users", AttemptNumber: 2, ResponseStatus: 500, ResponseBody: `{"error":"boom"}`,
		DurationMS: 12, ErrorMessage: "HTTP 500", CreatedAt: t0, IsServerError: true,
		Payload: json.RawMessage(`{"id":"evt_0_16B6C50_0_11","event":"created","data":{"id":7,"email":"a@example.com"}}`)}
}

// fullOptions wires every interface to fakes answering with fixtures.
func fullOptions() admin.Options {
	subs := fixtureSubscribers()
	find := func(id int64) (admin.Subscriber, error) {
		for _, s := range subs {
			if s.ID == id {
				return s, nil
			}
		}
		return admin.Subscriber{}, admin.NotFound("subscriber %d does not exist", id)
	}
	return admin.Options{
		Listen: "127.0.0.1:0",
		Subscribers: &fakeSubscribers{
			ListFunc: func(context.Context) ([]admin.Subscriber, error) { return subs, nil },
			GetFunc:  func(_ context.Context, id int64) (admin.Subscriber, error) { return find(id) },
			SetActiveFunc: func(_ context.Context, id int64, _ bool) error {
				_, err := find(id)
				return err
			},
			ResetFunc: func(_ context.Context, id int64) error {
				_, err := find(id)
				return err
			},
		},
		Tester: &fakeTester{TestFunc: func(_ context.Context, id int64, _ json.RawMessage) (admin.TestResult, error) {
			if _, err := find(id); err != nil {
				return admin.TestResult{}, err
			}
			return admin.TestResult{SubscriberID: id, URL: "https://crm.example.com/hooks", Success: true, ResponseStatus: 200, DurationMS: 5}, nil
		}},
		Logs: &fakeLogs{
			ListFunc: func(_ context.Context, f admin.LogFilter) ([]admin.LogEntry, error) {
				return []admin.LogEntry{fixtureLog()}, nil
			},
			GetFunc: func(_ context.Context, id int64) (admin.LogEntry, error) {
				if id != 42 {
					return admin.LogEntry{}, admin.NotFound("log entry %d does not exist", id)
				}
				return fixtureLog(), nil
			},
			StatsFunc: func(_ context.Context, days int) (admin.LogStats, error) {
				return admin.LogStats{Days: days, Total: 120, Successful: 107, Failed: 13, SuccessRate: 89.2}, nil
			},
			ErrorsFunc: func(context.Context, int) ([]admin.LogEntry, error) {
				return []admin.LogEntry{fixtureLog(), fixtureLog()}, nil
			},
		},
		Cache: &fakeCache{
			StatsFunc: func(context.Context) (admin.CacheStats, error) {
				return admin.CacheStats{Hits: 90, Misses: 10, HitRatio: 0.9, Keys: 4}, nil
			},
			ClearFunc: func(context.Context, string, string) error { return nil },
			WarmFunc:  func(context.Context) (int, error) { return 4, nil },
		},
		Control: &fakeControl{
			PauseFunc:  func(context.Context, string) error { return nil },
			ResumeFunc: func(context.Context) error { return nil },
			StateFunc: func(context.Context) (admin.PauseState, error) {
				return admin.PauseState{Paused: true, Mode: "hold", Since: t0}, nil
			},
		},
		Sender: &fakeSender{SendFunc: func(context.Context, string, any, string, json.RawMessage) (int, error) { return 2, nil }},
		Retries: &fakeRetries{
			DepthFunc: func(context.Context) (map[string]int64, error) {
				return map[string]int64{"pending": 3, "failed": 1}, nil
			},
			RedeliverFunc: func(context.Context, admin.Redelivery) (int, error) { return 1, nil },
		},
		Lag:    &fakeLag{LagFunc: func(context.Context) (int64, error) { return 4096, nil }},
		Health: &fakeHealth{ReadyFunc: func(context.Context) error { return nil }},
	}
}
