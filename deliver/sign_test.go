package deliver

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	specSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specBody   = `{"test": 2432232314}`
	specSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignSpecVector(t *testing.T) {
	t.Parallel()
	got, err := Sign(specSecret, specID, time.Unix(1614265330, 0), []byte(specBody))
	if err != nil {
		t.Fatal(err)
	}
	if got != specSig {
		t.Fatalf("Sign = %q, want %q", got, specSig)
	}
}

func signedHeader(t *testing.T, secrets []string, id string, ts time.Time, body string) http.Header {
	t.Helper()
	sig, err := SignAll(secrets, id, ts, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	h.Set("webhook-signature", sig)
	return h
}

func TestSignAllRotation(t *testing.T) {
	t.Parallel()
	other := GenerateSecret()
	now := time.Now()
	h := signedHeader(t, []string{specSecret, other}, specID, now, specBody)
	sigs := strings.Fields(h.Get("webhook-signature"))
	if len(sigs) != 2 || !strings.HasPrefix(sigs[0], "v1,") || !strings.HasPrefix(sigs[1], "v1,") {
		t.Fatalf("signature header = %q, want two v1 signatures", h.Get("webhook-signature"))
	}
	want, _ := Sign(specSecret, specID, now, []byte(specBody))
	if sigs[0] != want {
		t.Fatalf("first signature = %q, want %q", sigs[0], want)
	}
	for _, s := range []string{specSecret, other} {
		if err := Verify([]string{s}, h, []byte(specBody), time.Minute); err != nil {
			t.Errorf("Verify with one of the rotated secrets: %v", err)
		}
	}
}

func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	now := time.Now()
	good := signedHeader(t, []string{specSecret}, specID, now, specBody)
	tests := []struct {
		name    string
		secrets []string
		h       http.Header
		body    string
		want    error
	}{
		{"ok", []string{specSecret}, good, specBody, nil},
		{"tampered body", []string{specSecret}, good, `{"test": 2432232315}`, ErrSignature},
		{"wrong secret", []string{GenerateSecret()}, good, specBody, ErrSignature},
		{"old timestamp", []string{specSecret}, signedHeader(t, []string{specSecret}, specID, now.Add(-10*time.Minute), specBody), specBody, ErrTimestamp},
		{"future timestamp", []string{specSecret}, signedHeader(t, []string{specSecret}, specID, now.Add(10*time.Minute), specBody), specBody, ErrTimestamp},
		{"missing headers", []string{specSecret}, http.Header{}, specBody, ErrMissingHeaders},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := Verify(tt.secrets, tt.h, []byte(tt.body), 5*time.Minute)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestParseSecret(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		wantErr string
	}{
		{specSecret, ""},
		{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", `must start with "whsec_"`},
		{"whsec_not base64!", "not valid base64"},
		{"whsec_c2hvcnQ=", "at least 16"},
	}
	for _, tt := range tests {
		key, err := ParseSecret(tt.in)
		switch {
		case tt.wantErr == "" && (err != nil || len(key) != 24):
			t.Errorf("ParseSecret(%q) = %d bytes, %v; want 24 bytes", tt.in, len(key), err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("ParseSecret(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
		case err != nil && strings.Contains(err.Error(), strings.TrimPrefix(tt.in, "whsec_")):
			t.Errorf("ParseSecret(%q) error repeats the secret: %v", tt.in, err)
		}
	}
}

func TestGenerateSecret(t *testing.T) {
	t.Parallel()
	a, b := GenerateSecret(), GenerateSecret()
	if a == b {
		t.Fatal("two generated secrets are equal")
	}
	key, err := ParseSecret(a)
	if err != nil || len(key) != 32 {
		t.Fatalf("ParseSecret(GenerateSecret()) = %d bytes, %v; want 32 bytes", len(key), err)
	}
}

// BenchmarkSign measures signing one event as the client does it.
func BenchmarkSign(b *testing.B) {
	body := []byte(`{"id":"evt_0000000016B6C50_0001_7","event":"updated","table":"public.users","data":{"id":7,"email":"new@example.com"}}`)
	var keys keyCache
	secrets := []string{specSecret}
	ts := time.Now().Unix()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := keys.signature(secrets, specID, ts, body); err != nil {
			b.Fatal(err)
		}
	}
}

func mustKey(tb testing.TB, s string) []byte {
	tb.Helper()
	k, err := ParseSecret(s)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// FuzzVerify checks that Verify never panics and never accepts a
// signature header that does not carry the right signature.
func FuzzVerify(f *testing.F) {
	f.Add(specID, "1614265330", specSig, specBody)
	f.Add("", "", "", "")
	f.Add("x", "-1", "v1, v1,,,", "{}")
	f.Fuzz(func(t *testing.T, id, ts, sig, body string) {
		h := http.Header{}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", ts)
		h.Set("webhook-signature", sig)
		err := Verify([]string{specSecret}, h, []byte(body), 1<<62)
		if err != nil {
			return
		}
		n, _ := strconv.ParseInt(ts, 10, 64)
		want, _ := Sign(specSecret, id, time.Unix(n, 0), []byte(body))
		if !strings.Contains(sig, want) {
			t.Fatalf("Verify accepted %q for id %q ts %q body %q", sig, id, ts, body)
		}
	})
}
