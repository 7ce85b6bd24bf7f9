package cdc

import (
	"fmt"
	"testing"

	"github.com/walhook/walhook/internal/pgtest"
)

// BenchmarkStreamThroughput measures rows streamed from a real server,
// decoded and handed to a Handler (one op = one row).
func BenchmarkStreamThroughput(b *testing.B) {
	dsn := pgtest.NewDB(b)
	start := setup(b, dsn, []string{"public.t"},
		`CREATE TABLE t (id bigint PRIMARY KEY, email text, created_at timestamptz, balance numeric, active bool, meta jsonb)`)
	rec := newRecorder()
	rec.keep = false
	run(b, StreamOptions{DSN: dsn, Start: start}, rec)
	b.ReportAllocs()
	b.ResetTimer()
	pgtest.Exec(b, dsn, fmt.Sprintf(`INSERT INTO t SELECT g, 'user'||g||'@example.com', now(), g * 1.5, g %% 2 = 0, '{"plan": "pro"}'
		FROM generate_series(1, %d) g`, b.N))
	rec.waitTxns(b, 1)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
