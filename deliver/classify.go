package deliver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// classify turns a transport error into the short Attempt.Error text
// ("timeout", "connection refused", "dns: …", "tls: …", "policy: …") and
// says whether retrying is pointless. The URL is never part of the text:
// it may carry credentials.
func classify(err error) (msg string, permanent bool) {
	var pe *PolicyError
	if errors.As(err, &pe) {
		return "policy: " + pe.Error(), true
	}
	err = unwrapURL(err)
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return "timeout", false
	case errors.Is(err, context.Canceled):
		return "canceled", false
	case errors.As(err, &dnsErr):
		return "dns: " + dnsErr.Error(), false
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused", false
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset", false
	case isTLS(err):
		return "tls: " + strings.TrimPrefix(err.Error(), "tls: "), false
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed by server", false
	}
	return "network: " + err.Error(), false
}

// unwrapURL strips *url.Error, whose text repeats the URL.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func isTLS(err error) bool {
	var (
		rh  tls.RecordHeaderError
		al  tls.AlertError
		cv  *tls.CertificateVerificationError
		ua  x509.UnknownAuthorityError
		hn  x509.HostnameError
		inv x509.CertificateInvalidError
	)
	return errors.As(err, &rh) || errors.As(err, &al) || errors.As(err, &cv) ||
		errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &inv) ||
		strings.HasPrefix(err.Error(), "tls: ")
}

// maxRetryAfter caps a Retry-After the dispatcher honours.
const maxRetryAfter = time.Hour

// parseRetryAfter reads a Retry-After value: delay seconds or an HTTP date
// (relative to now). Missing, malformed or past values give 0.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		d = time.Duration(min(secs, int64(maxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}
