package cdc

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"time"
	"unsafe"

	"github.com/jackc/pgx/v5/pgtype"
)

// valueDecoder converts one column value from PostgreSQL's text format into
// the Go value documented on Row. It never fails: text it cannot read
// becomes a string holding the text. Its result never aliases src.
type valueDecoder func(src []byte) any

// unsafeString views b as a string without copying, for parsers that do not
// keep their input. The result must not outlive b.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func textValue(src []byte) any { return string(src) }

func intValue(src []byte) any {
	v, err := strconv.ParseInt(unsafeString(src), 10, 64)
	if err != nil {
		return string(src)
	}
	return v
}

// floatValue reads float4 and float8; NaN and ±Infinity, which JSON cannot
// hold, stay strings ("NaN", "Infinity", "-Infinity").
func floatValue(src []byte) any {
	v, err := strconv.ParseFloat(unsafeString(src), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return string(src)
	}
	return v
}

func boolValue(src []byte) any {
	switch string(src) {
	case "t":
		return true
	case "f":
		return false
	}
	return string(src)
}

// numericValue keeps a numeric exact: a json.Number (its text unchanged)
// when a float64 holds the same decimal value, else a string (also NaN and
// ±Infinity).
func numericValue(src []byte) any {
	f, err := strconv.ParseFloat(unsafeString(src), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return string(src)
	}
	var buf [32]byte
	if !isJSONNumber(src) || !sameDecimal(src, strconv.AppendFloat(buf[:0], f, 'f', -1, 64)) {
		return string(src)
	}
	return json.Number(string(src))
}

// isJSONNumber reports whether s is a number in JSON's grammar without
// exponent: -?(0|[1-9][0-9]*)(\.[0-9]+)?
func isJSONNumber(s []byte) bool {
	if len(s) > 0 && s[0] == '-' {
		s = s[1:]
	}
	digits := func() int {
		n := 0
		for n < len(s) && s[n] >= '0' && s[n] <= '9' {
			n++
		}
		return n
	}
	n := digits()
	if n == 0 || (n > 1 && s[0] == '0') {
		return false
	}
	s = s[n:]
	if len(s) == 0 {
		return true
	}
	if s[0] != '.' {
		return false
	}
	s = s[1:]
	n = digits()
	return n > 0 && n == len(s)
}

// sameDecimal reports whether two plain decimal texts (no exponent) denote
// the same number.
func sameDecimal(a, b []byte) bool {
	an, ai, af := splitDecimal(a)
	bn, bi, bf := splitDecimal(b)
	if len(ai) == 0 && len(af) == 0 && len(bi) == 0 && len(bf) == 0 {
		return true // zero, whatever its sign
	}
	return an == bn && bytes.Equal(ai, bi) && bytes.Equal(af, bf)
}

// splitDecimal returns the sign, the integer digits without leading zeros
// and the fraction digits without trailing zeros.
func splitDecimal(s []byte) (neg bool, intPart, frac []byte) {
	if len(s) > 0 && (s[0] == '-' || s[0] == '+') {
		neg, s = s[0] == '-', s[1:]
	}
	intPart = s
	if i := bytes.IndexByte(s, '.'); i >= 0 {
		intPart, frac = s[:i], s[i+1:]
	}
	return neg, bytes.TrimLeft(intPart, "0"), bytes.TrimRight(frac, "0")
}

// jsonValue embeds json and jsonb as json.RawMessage after checking that the
// text is JSON (else it becomes a string).
func jsonValue(src []byte) any {
	if !json.Valid(src) {
		return string(src)
	}
	return json.RawMessage(bytes.Clone(src))
}

// scanned returns a decoder that reads through pgx's type map the values
// of type oid into a T, and converts that with conv.
func scanned[T any](m *pgtype.Map, oid uint32, conv func(T) any) valueDecoder {
	var zero T
	plan := m.PlanScan(oid, pgtype.TextFormatCode, &zero)
	return func(src []byte) any {
		var v T
		if err := plan.Scan(src, &v); err != nil {
			return string(src)
		}
		return conv(v)
	}
}

// timeDecoder reads timestamp and timestamptz as time.Time in UTC;
// "infinity", "-infinity" and years outside 0-9999 stay strings.
func timeDecoder(m *pgtype.Map, oid uint32) valueDecoder {
	scan := scanned(m, oid, func(t time.Time) any { return t.UTC() })
	return func(src []byte) any {
		if len(src) > 0 && (src[0] == 'i' || src[0] == '-' && len(src) > 1 && src[1] == 'i') {
			return string(src)
		}
		v := scan(src)
		if t, ok := v.(time.Time); ok && (t.Year() < 0 || t.Year() > 9999) {
			return string(src) // RFC 3339 (and so encoding/json) cannot write it
		}
		return v
	}
}

func byteaDecoder(m *pgtype.Map) valueDecoder {
	return scanned(m, pgtype.ByteaOID, func(b []byte) any {
		if b == nil {
			b = []byte{}
		}
		return b
	})
}

// builtinDecoder returns the decoder for a built-in scalar type, or nil.
func builtinDecoder(m *pgtype.Map, oid uint32) valueDecoder {
	switch oid {
	case pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID, pgtype.OIDOID, pgtype.XIDOID, pgtype.CIDOID, pgtype.XID8OID:
		return intValue
	case pgtype.Float4OID, pgtype.Float8OID:
		return floatValue
	case pgtype.NumericOID:
		return numericValue
	case pgtype.BoolOID:
		return boolValue
	case pgtype.JSONOID, pgtype.JSONBOID:
		return jsonValue
	case pgtype.TimestampOID, pgtype.TimestamptzOID:
		return timeDecoder(m, oid)
	case pgtype.ByteaOID:
		return byteaDecoder(m)
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID, pgtype.NameOID, pgtype.QCharOID,
		pgtype.UUIDOID, pgtype.DateOID, pgtype.TimeOID, pgtype.TimetzOID, pgtype.IntervalOID:
		return textValue
	}
	return nil
}
