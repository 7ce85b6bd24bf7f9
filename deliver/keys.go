package deliver

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"strconv"
	"sync"
)

// keyCache holds parsed secrets and reusable HMACs, so signing an event
// neither decodes the secret nor allocates a new HMAC. Entries are never
// evicted: there is one per configured secret.
type keyCache struct {
	m sync.Map // secret → *signingKey
}

// signingKey is a parsed secret with a pool of HMACs keyed by it.
type signingKey struct {
	pool sync.Pool // *macBuf
}

// macBuf is an HMAC with a scratch buffer for the signed prefix and sum.
type macBuf struct {
	h   hash.Hash
	buf []byte
}

func (c *keyCache) get(secret string) (*signingKey, error) {
	if k, ok := c.m.Load(secret); ok {
		return k.(*signingKey), nil
	}
	key, err := ParseSecret(secret)
	if err != nil {
		return nil, err
	}
	sk := &signingKey{pool: sync.Pool{New: func() any {
		return &macBuf{h: hmac.New(sha256.New, key), buf: make([]byte, 0, 128)}
	}}}
	k, _ := c.m.LoadOrStore(secret, sk)
	return k.(*signingKey), nil
}

// sign appends "v1,<base64 HMAC of id.ts.body>" to dst.
func (k *signingKey) sign(dst []byte, id string, ts int64, body []byte) []byte {
	m := k.pool.Get().(*macBuf)
	m.h.Reset()
	m.buf = append(m.buf[:0], id...)
	m.buf = append(m.buf, '.')
	m.buf = strconv.AppendInt(m.buf, ts, 10)
	m.buf = append(m.buf, '.')
	m.h.Write(m.buf)
	m.h.Write(body)
	m.buf = m.h.Sum(m.buf[:0])
	dst = append(dst, "v1,"...)
	dst = base64.StdEncoding.AppendEncode(dst, m.buf)
	k.pool.Put(m)
	return dst
}

// writeSigned writes the signed content "id.ts.body" to h.
func writeSigned(h hash.Hash, id string, ts int64, body []byte) {
	var num [24]byte
	b := append(num[:0], '.')
	b = strconv.AppendInt(b, ts, 10)
	b = append(b, '.')
	h.Write([]byte(id))
	h.Write(b)
	h.Write(body)
}

// signature is the webhook-signature value for secrets: one v1 signature
// per secret, separated by spaces ("" without secrets).
func (c *keyCache) signature(secrets []string, id string, ts int64, body []byte) (string, error) {
	if len(secrets) == 0 {
		return "", nil
	}
	out := make([]byte, 0, len(secrets)*48)
	for i, s := range secrets {
		k, err := c.get(s)
		if err != nil {
			return "", fmt.Errorf("sign with secret %d: %w", i+1, err)
		}
		if i > 0 {
			out = append(out, ' ')
		}
		out = k.sign(out, id, ts, body)
	}
	return string(out), nil
}
