package deliver

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix starts every signing secret (Standard Webhooks).
const SecretPrefix = "whsec_"

// DefaultTolerance is how far a webhook-timestamp may be from the
// receiver's clock when Verify is given no tolerance.
const DefaultTolerance = 5 * time.Minute

// minKeyBytes is the shortest signing key ParseSecret accepts.
const minKeyBytes = 16

// Header names of the Standard Webhooks spec, in the canonical form
// net/http uses as map keys.
const (
	HeaderID        = "Webhook-Id"
	HeaderTimestamp = "Webhook-Timestamp"
	HeaderSignature = "Webhook-Signature"
)

// Errors returned by Verify; the returned error wraps one of them.
var (
	ErrMissingHeaders = errors.New("missing webhook-id, webhook-timestamp or webhook-signature header")
	ErrTimestamp      = errors.New("webhook-timestamp outside tolerance")
	ErrSignature      = errors.New("no matching v1 signature")
)

// ParseSecret returns the HMAC key of a whsec_ secret: the base64 text after
// the prefix, decoded. The error says what is wrong without repeating the
// secret.
func ParseSecret(s string) ([]byte, error) {
	rest, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return nil, errors.New(`parse secret: it must start with "whsec_" followed by base64 (generate one with "walhook secret generate")`)
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(rest)
	}
	if err != nil {
		return nil, errors.New(`parse secret: the part after "whsec_" is not valid base64 (generate one with "walhook secret generate")`)
	}
	if len(key) < minKeyBytes {
		return nil, fmt.Errorf(`parse secret: key is %d bytes, at least %d are needed (generate one with "walhook secret generate")`, len(key), minKeyBytes)
	}
	return key, nil
}

// GenerateSecret returns a new secret: "whsec_" and the base64 of 32 random
// bytes. It panics only if the system's random source fails.
func GenerateSecret() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("read random bytes for a secret: %v", err))
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b[:])
}

// Sign returns the Standard Webhooks signature "v1,<base64>" of body for
// message id and timestamp ts, made with secret: an HMAC-SHA256 of
// "id.ts.body" where ts is in Unix seconds.
func Sign(secret string, id string, ts time.Time, body []byte) (string, error) {
	return SignAll([]string{secret}, id, ts, body)
}

// SignAll signs with every secret and returns the signatures separated by
// spaces, the webhook-signature value used during key rotation. No secrets
// give "".
func SignAll(secrets []string, id string, ts time.Time, body []byte) (string, error) {
	keys := make([][]byte, len(secrets))
	for i, s := range secrets {
		k, err := ParseSecret(s)
		if err != nil {
			return "", fmt.Errorf("sign with secret %d: %w", i+1, err)
		}
		keys[i] = k
	}
	return signKeys(keys, id, ts.Unix(), body), nil
}

// signKeys is SignAll with parsed keys.
func signKeys(keys [][]byte, id string, ts int64, body []byte) string {
	if len(keys) == 0 {
		return ""
	}
	var scratch [64]byte
	out := make([]byte, 0, len(keys)*48)
	for i, k := range keys {
		if i > 0 {
			out = append(out, ' ')
		}
		out = append(out, "v1,"...)
		sum := mac(k, id, ts, body, scratch[:0])
		out = base64.StdEncoding.AppendEncode(out, sum)
	}
	return string(out)
}

// mac computes HMAC-SHA256(key, "id.ts.body"), appending the sum to dst.
func mac(key []byte, id string, ts int64, body []byte, dst []byte) []byte {
	h := hmac.New(sha256.New, key)
	writeSigned(h, id, ts, body)
	return h.Sum(dst)
}

// Verify checks a received webhook as a receiver would: the headers are
// present, webhook-timestamp is within tolerance of now (DefaultTolerance
// when tolerance <= 0), and one v1 signature in webhook-signature matches
// one of secrets (compared in constant time). The error wraps
// ErrMissingHeaders, ErrTimestamp or ErrSignature, or is a secret's parse
// error.
func Verify(secrets []string, h http.Header, body []byte, tolerance time.Duration) error {
	id, tsText, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || tsText == "" || sigs == "" {
		return fmt.Errorf("verify webhook: %w", ErrMissingHeaders)
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return fmt.Errorf("verify webhook: timestamp %q is not Unix seconds: %w", tsText, ErrTimestamp)
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	if age := time.Since(time.Unix(ts, 0)); age > tolerance || age < -tolerance {
		return fmt.Errorf("verify webhook: timestamp is %s away from now, tolerance is %s: %w", age.Round(time.Second), tolerance, ErrTimestamp)
	}
	for _, s := range secrets {
		key, err := ParseSecret(s)
		if err != nil {
			return fmt.Errorf("verify webhook: %w", err)
		}
		if matchAny(sigs, mac(key, id, ts, body, nil)) {
			return nil
		}
	}
	return fmt.Errorf("verify webhook: %w", ErrSignature)
}

// matchAny reports whether one "v1,<base64>" entry of the space-separated
// list equals want.
func matchAny(list string, want []byte) bool {
	for _, entry := range strings.Fields(list) {
		b64, ok := strings.CutPrefix(entry, "v1,")
		if !ok {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return true
		}
	}
	return false
}
