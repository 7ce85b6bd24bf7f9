package router

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/walhook/walhook/cdc"
)

// appendValue agrees with encoding/json wherever encoding/json is defined,
// except that it does not escape HTML characters.
func TestAppendValueMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	values := []any{
		nil, "", "plain", "quote\"back\\slash", "ctl\x00\x1f\x7f", "é ü 漢字 🙂", "\u2028\u2029", "bad \xff utf8",
		int64(0), int64(-9223372036854775808), 42, int32(-7), int16(3), uint32(4000000000), uint64(18446744073709551615),
		0.0, 1.5, -2.25, 1e21, 1e20, 1e-7, 0.000001, 123456789.125, float32(1.1), float32(1e-7),
		true, false, json.Number("12.50"), json.RawMessage(`{"a":1}`), []byte("hello"), []byte{},
		[]any{int64(1), "x", nil, []any{true}}, map[string]any{"b": int64(1), "a": "x"},
		struct{ A int }{1},
	}
	for _, v := range values {
		got, err := appendValue(nil, v)
		if err != nil {
			t.Fatalf("appendValue(%#v): %v", v, err)
		}
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("appendValue(%#v) = %s, want %s", v, got, want)
		}
	}
}

func TestAppendValueSpecial(t *testing.T) {
	t.Parallel()
	cases := []struct {
		v    any
		want string
	}{
		{math.NaN(), `"NaN"`},
		{math.Inf(1), `"Infinity"`},
		{math.Inf(-1), `"-Infinity"`},
		{"<a&b>", `"<a&b>"`},
		{time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC), `"2026-11-29T03:00:00.000000Z"`},
		{json.Number(""), `0`},
		{json.RawMessage(nil), `null`},
	}
	for _, tc := range cases {
		got, err := appendValue(nil, tc.v)
		if err != nil || string(got) != tc.want {
			t.Errorf("appendValue(%#v) = %s, %v; want %s", tc.v, got, err, tc.want)
		}
	}
	if _, err := appendValue(nil, cdc.Unchanged{}); err == nil {
		t.Error("appendValue(Unchanged) succeeded, want an error")
	}
	if _, err := appendValue(nil, make(chan int)); err == nil || !strings.Contains(err.Error(), "encode chan int value") {
		t.Errorf("appendValue(chan) error = %v, want one naming the type", err)
	}
}

func TestAppendTime(t *testing.T) {
	t.Parallel()
	for _, at := range []time.Time{
		time.Date(2026, 11, 29, 3, 4, 5, 123456789, time.UTC), time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 6, 1, 12, 0, 0, 1000, time.FixedZone("CEST", 7200)), time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		if got, want := string(appendTime(nil, at)), at.Format(timeLayout); got != want {
			t.Errorf("appendTime(%v) = %s, want %s", at, got, want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a", "\"", "\xff", "\u2028", "é\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := appendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("appendString(%q) = %s: not JSON: %v", s, got, err)
		}
		want, _ := json.Marshal(s)
		var wantBack string
		_ = json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Fatalf("appendString(%q) decodes to %q, want %q", s, back, wantBack)
		}
	})
}

func TestEqualValue(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	same := [][2]any{
		{nil, nil}, {int64(1), int64(1)}, {"a", "a"}, {math.NaN(), math.NaN()}, {json.Number("1.0"), json.Number("1.0")},
		{[]byte("x"), []byte("x")}, {at, at.In(time.FixedZone("x", 3600))}, {[]any{int64(1)}, []any{int64(1)}},
		{json.RawMessage(`{}`), json.RawMessage(`{}`)},
	}
	for _, p := range same {
		if !equalValue(p[0], p[1]) {
			t.Errorf("equalValue(%#v, %#v) = false", p[0], p[1])
		}
	}
	differ := [][2]any{{nil, int64(0)}, {int64(1), int64(2)}, {"a", "b"}, {int64(1), "1"}, {[]any{int64(1)}, []any{int64(2)}}}
	for _, p := range differ {
		if equalValue(p[0], p[1]) {
			t.Errorf("equalValue(%#v, %#v) = true", p[0], p[1])
		}
	}
}
