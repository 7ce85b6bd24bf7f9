package router

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"

	"github.com/walhook/walhook/cdc"
)

// EventID returns the id of the event a change produces for a
// subscription: "evt_<commit LSN, 16 hex digits>_<index in the
// transaction>_<FNV-1a of the subscription key, 8 hex digits>", e.g.
// "evt_00000000016b6c50_3_9a1c22f0". It depends only on its inputs, so an
// event routed again after a crash carries the same id (and the same
// webhook-id header).
func EventID(commitLSN cdc.LSN, index int, subscriptionKey string) string {
	return string(appendEventID(nil, commitLSN, index, subscriptionKey))
}

func appendEventID(dst []byte, commitLSN cdc.LSN, index int, key string) []byte {
	dst = append(dst, "evt_"...)
	dst = appendHex(dst, uint64(commitLSN), 16)
	dst = append(dst, '_')
	dst = strconv.AppendInt(dst, int64(index), 10)
	dst = append(dst, '_')
	return appendHex(dst, uint64(fnv32a(key)), 8)
}

// appendManualID appends "evt_m_" and 24 random hex digits: manual sends
// have no WAL position to derive an id from.
func appendManualID(dst []byte) []byte {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	dst = append(dst, "evt_m_"...)
	return hex.AppendEncode(dst, b[:])
}

func appendHex(dst []byte, v uint64, digits int) []byte {
	for shift := (digits - 1) * 4; shift >= 0; shift -= 4 {
		dst = append(dst, hexDigits[(v>>uint(shift))&0xF])
	}
	return dst
}

func fnv32a(s string) uint32 {
	const offset, prime = 2166136261, 16777619
	h := uint32(offset)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= prime
	}
	return h
}
