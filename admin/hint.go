package admin

import "strings"

// SecretHint masks a signing secret for display: the "whsec_" prefix (when
// present) and the last four characters, e.g. "whsec_…Xy9Q". Secrets too
// short to spare four characters show as "whsec_…" or "…". An empty
// secret gives "".
func SecretHint(secret string) string {
	if secret == "" {
		return ""
	}
	prefix := ""
	if strings.HasPrefix(secret, "whsec_") {
		prefix, secret = "whsec_", secret[len("whsec_"):]
	}
	if len(secret) < 16 {
		return prefix + "…"
	}
	return prefix + "…" + secret[len(secret)-4:]
}

// HealthOf derives a subscriber's health from its failures, as the
// reference dashboard does: Healthy with no consecutive failures, Critical
// when auto-disabled or at half the auto-disable threshold or more (10
// when the threshold is 0), Warning in between.
func HealthOf(s Subscriber) string {
	if !s.IsActive && s.DisabledReason != "" {
		return Critical
	}
	if s.ConsecutiveFailures == 0 {
		return Healthy
	}
	limit := int64(s.AutoDisableAfterFailures)
	if limit <= 0 {
		limit = 10
	}
	if s.ConsecutiveFailures*2 >= limit {
		return Critical
	}
	return Warning
}

// present readies a subscriber from an adapter for display: health
// derived when missing, and a hint that does not look masked (an adapter
// passed the secret itself) masked again.
func present(s Subscriber) Subscriber {
	if s.Health == "" {
		s.Health = HealthOf(s)
	}
	if s.SecretHint != "" && !strings.Contains(s.SecretHint, "…") {
		s.SecretHint = SecretHint(s.SecretHint)
	}
	if s.Subscriptions == nil {
		s.Subscriptions = []Subscription{}
	}
	return s
}
