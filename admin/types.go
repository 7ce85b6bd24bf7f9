package admin

import (
	"encoding/json"
	"time"
)

// Health values of a subscriber, as shown in the dashboard and the API.
const (
	Healthy  = "healthy"
	Warning  = "warning"
	Critical = "critical"
)

// Subscriber is one receiver of webhooks with its settings, counters and
// subscriptions. It never carries the signing secret: SecretHint shows only
// its first and last characters.
type Subscriber struct {
	ID            int64  `json:"id"`
	Name          string `json:"name"`
	Description   string `json:"description,omitempty"`
	Table         string `json:"table"`
	TargetURL     string `json:"target_url"`
	IsActive      bool   `json:"is_active"`
	ConfigManaged bool   `json:"config_managed"`

	TotalDeliveries      int64   `json:"total_deliveries"`
	SuccessfulDeliveries int64   `json:"successful_deliveries"`
	FailedDeliveries     int64   `json:"failed_deliveries"`
	ConsecutiveFailures  int64   `json:"consecutive_failures"`
	SuccessRate          float64 `json:"success_rate"` // percent, 0–100
	// Health is Healthy, Warning or Critical; when the adapter leaves it
	// empty admin derives it with HealthOf.
	Health         string    `json:"health"`
	LastSuccessAt  time.Time `json:"last_success_at,omitzero"`
	LastFailureAt  time.Time `json:"last_failure_at,omitzero"`
	DisabledReason string    `json:"disabled_reason,omitempty"`

	Subscriptions []Subscription `json:"subscriptions"`

	MaxRetries               int           `json:"max_retries"`
	RetryDelay               time.Duration `json:"retry_delay"`
	Timeout                  time.Duration `json:"timeout"`
	AutoDisableAfterFailures int           `json:"auto_disable_after_failures"`
	// SecretHint is a masked form of the secret, e.g. "whsec_…Xy9Q" (see
	// SecretHint); empty when the subscriber signs nothing.
	SecretHint string `json:"secret_hint,omitempty"`
}

// MarshalJSON writes durations as Go duration strings ("1m0s") rather than
// nanoseconds.
func (s Subscriber) MarshalJSON() ([]byte, error) {
	type plain Subscriber
	return json.Marshal(struct {
		plain
		RetryDelay string `json:"retry_delay"`
		Timeout    string `json:"timeout"`
	}{plain(s), s.RetryDelay.String(), s.Timeout.String()})
}

// Subscription is one event a subscriber receives, with its own counters.
type Subscription struct {
	ID             int64  `json:"id"`
	Event          string `json:"event"`
	CustomEndpoint string `json:"custom_endpoint,omitempty"`
	// Endpoint is the resolved URL the event is posted to.
	Endpoint             string  `json:"endpoint"`
	IsActive             bool    `json:"is_active"`
	TotalDeliveries      int64   `json:"total_deliveries"`
	SuccessfulDeliveries int64   `json:"successful_deliveries"`
	FailedDeliveries     int64   `json:"failed_deliveries"`
	SuccessRate          float64 `json:"success_rate"` // percent, 0–100
	// RecentDeliveries are the last (at most 5) attempts, newest first.
	RecentDeliveries []DeliverySummary `json:"recent_deliveries"`
}

// DeliverySummary is one attempt in a subscription's recent history.
type DeliverySummary struct {
	ID             int64     `json:"id"`
	CreatedAt      time.Time `json:"created_at"`
	IsSuccess      bool      `json:"is_success"`
	ResponseStatus int       `json:"response_status"`
}

// LogEntry is one delivery attempt from the delivery log.
type LogEntry struct {
	ID             int64           `json:"id"`
	SubscriptionID int64           `json:"subscription_id"`
	SubscriberID   int64           `json:"subscriber_id"`
	Subscriber     string          `json:"subscriber"`
	EventID        string          `json:"event_id"`
	Event          string          `json:"event"`
	Table          string          `json:"table"`
	AttemptNumber  int             `json:"attempt_number"`
	ResponseStatus int             `json:"response_status"` // 0: no response
	ResponseBody   string          `json:"response_body,omitempty"`
	DurationMS     int64           `json:"duration_ms"`
	ErrorMessage   string          `json:"error_message,omitempty"`
	CreatedAt      time.Time       `json:"created_at"`
	IsSuccess      bool            `json:"is_success"`
	IsClientError  bool            `json:"is_client_error"`
	IsServerError  bool            `json:"is_server_error"`
	Payload        json.RawMessage `json:"payload,omitempty"`
}

// LogFilter selects delivery log entries. Zero fields do not filter.
type LogFilter struct {
	SubscriberID   int64  // from ?subscriber=<number>
	SubscriberName string // from ?subscriber=<name>
	Event          string
	// Status is "", "success" or "failed".
	Status string
	// Since keeps entries created at or after it.
	Since time.Time
	// BeforeID keeps entries with ID < BeforeID (keyset pagination).
	BeforeID int64
	// Limit is the most entries to return, 1–1000 (admin enforces it).
	Limit int
}

// LogStats summarises the delivery log over the last Days days.
type LogStats struct {
	Days          int               `json:"days"`
	Total         int64             `json:"total"`
	Successful    int64             `json:"successful"`
	Failed        int64             `json:"failed"`
	SuccessRate   float64           `json:"success_rate"` // percent, 0–100
	AvgDurationMS float64           `json:"avg_duration_ms"`
	BySubscriber  []SubscriberStats `json:"by_subscriber"`
}

// SubscriberStats is one subscriber's share of LogStats.
type SubscriberStats struct {
	SubscriberID int64   `json:"subscriber_id"`
	Subscriber   string  `json:"subscriber"`
	Total        int64   `json:"total"`
	Successful   int64   `json:"successful"`
	Failed       int64   `json:"failed"`
	SuccessRate  float64 `json:"success_rate"`
}

// ErrorGroup is failed attempts sharing one error message.
type ErrorGroup struct {
	Message     string    `json:"message"`
	Count       int       `json:"count"`
	LastAt      time.Time `json:"last_at"`
	Subscribers []string  `json:"subscribers"`
	// LastID is the newest entry's ID, for a link to its detail.
	LastID int64 `json:"last_id"`
}

// CacheStats describes the subscription cache.
type CacheStats struct {
	Hits      uint64  `json:"hits"`
	Misses    uint64  `json:"misses"`
	HitRatio  float64 `json:"hit_ratio"` // 0–1
	Keys      int64   `json:"keys"`
	Evictions uint64  `json:"evictions"`
}

// Pause modes: skip drops the paused window's events, hold parks them and
// delivers them after resume.
const (
	PauseSkip = "skip"
	PauseHold = "hold"
)

// PauseState is the global pause switch.
type PauseState struct {
	Paused bool      `json:"paused"`
	Mode   string    `json:"mode,omitempty"` // PauseSkip or PauseHold
	Since  time.Time `json:"since,omitzero"`
}

// TestResult is the outcome of a test delivery to a subscriber.
type TestResult struct {
	SubscriberID   int64  `json:"subscriber_id"`
	URL            string `json:"url"`
	Success        bool   `json:"success"`
	ResponseStatus int    `json:"response_status"`
	ResponseBody   string `json:"response_body,omitempty"`
	DurationMS     int64  `json:"duration_ms"`
	Error          string `json:"error,omitempty"`
}

// Redelivery selects failed retry-queue entries to deliver again. Zero
// fields do not filter; an empty Redelivery selects every failed entry.
type Redelivery struct {
	SubscriberID int64  `json:"subscriber,omitempty"`
	EventID      string `json:"event_id,omitempty"`
}

// Status is the overview shown by GET /api/v1/status and the dashboard's
// front page. Parts whose interface is not wired are zero; Problems lists
// the parts that could not be read, so a partly broken walhook still shows
// what it can.
type Status struct {
	Version             string           `json:"version,omitempty"`
	StartedAt           time.Time        `json:"started_at,omitzero"`
	SubscribersActive   int              `json:"subscribers_active"`
	SubscribersInactive int              `json:"subscribers_inactive"`
	SubscribersByHealth map[string]int   `json:"subscribers_by_health"`
	Deliveries24h       int64            `json:"deliveries_24h"`
	Failed24h           int64            `json:"failed_24h"`
	SuccessRate24h      float64          `json:"success_rate_24h"`
	QueueDepth          map[string]int64 `json:"queue_depth"`
	Pause               PauseState       `json:"pause"`
	SlotLagBytes        int64            `json:"slot_lag_bytes"`
	Cache               CacheStats       `json:"cache"`
	Ready               bool             `json:"ready"`
	NotReadyReason      string           `json:"not_ready_reason,omitempty"`
	Problems            []string         `json:"problems,omitempty"`
}
