package cdc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"time"
)

// errShort is recorded by reader when a message ends before its fields do.
var errShort = errors.New("message too short")

// reader walks a pgoutput message with bounds checks: a read past the end
// records errShort and yields zero values, so a malformed message can never
// panic the decoder.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = errShort
	}
	r.b = nil
}

func (r *reader) u8() byte {
	if len(r.b) < 1 {
		r.fail()
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) u16() uint16 {
	if len(r.b) < 2 {
		r.fail()
		return 0
	}
	v := binary.BigEndian.Uint16(r.b)
	r.b = r.b[2:]
	return v
}

func (r *reader) u32() uint32 {
	if len(r.b) < 4 {
		r.fail()
		return 0
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *reader) u64() uint64 {
	if len(r.b) < 8 {
		r.fail()
		return 0
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *reader) lsn() LSN { return LSN(r.u64()) }

// time reads a timestamp in microseconds since 2000-01-01 UTC.
func (r *reader) time() time.Time {
	return pgEpoch.Add(time.Duration(int64(r.u64())) * time.Microsecond).UTC()
}

var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// str reads a NUL-terminated string.
func (r *reader) str() string {
	i := bytes.IndexByte(r.b, 0)
	if i < 0 {
		r.fail()
		return ""
	}
	s := string(r.b[:i])
	r.b = r.b[i+1:]
	return s
}

// bytes returns the next n bytes, aliasing the message buffer.
func (r *reader) bytes(n uint32) []byte {
	if uint64(len(r.b)) < uint64(n) {
		r.fail()
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}
