package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
)

// runBare runs the bare pipeline: decode pgoutput, encode each insert as
// JSON, sign it and POST it with o.inFlight requests in flight. No
// durability, no retries, no ordering, no acknowledgement of what was
// delivered. Each repetition writes o.rows rows (a burst, or paced at
// o.rate rows/s) and waits for all of them at the receiver.
func runBare(ctx context.Context, o options) (result, error) {
	res := result{Mode: "bare", Rows: o.rows, InFlight: o.inFlight, Rate: o.rate}
	cluster, conn, err := startDB(ctx)
	if err != nil {
		return res, err
	}
	defer cluster.Stop()
	defer conn.Close(ctx)
	if err := createSlot(ctx, conn, "bare"); err != nil {
		return res, err
	}
	s, err := startSink(o.walhook)
	if err != nil {
		return res, err
	}
	defer s.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The reader only decodes; the posters encode, sign and post, so
	// encoding runs in parallel with decoding as it would in any
	// reasonable pipeline.
	inserts := make(chan insert, 1024)
	var wg sync.WaitGroup
	wg.Add(1 + o.inFlight)
	go func() {
		defer wg.Done()
		defer close(inserts)
		if err := stream(ctx, cluster.DSN("postgres"), "bare", reader(inserts)); err != nil {
			fmt.Fprintln(os.Stderr, "bare pipeline stream:", err)
		}
	}()
	client := keepAlive(o.inFlight)
	for range o.inFlight {
		go func() {
			defer wg.Done()
			bareWorker(ctx, client, s.URL+"/webhooks", inserts)
		}()
	}
	defer wg.Wait()
	defer cancel()

	var p50, p99, cpu []float64
	for i := range o.repeat {
		r, err := bareRun(ctx, o, conn, s, 1+i*o.rows)
		if err != nil {
			return res, err
		}
		res.Runs = append(res.Runs, r.PerSec)
		p50, p99, cpu = append(p50, r.P50MS), append(p99, r.P99MS), append(cpu, r.CPUPer100k)
	}
	res.PerSec, res.P50MS, res.P99MS, res.CPUPer100k = median(res.Runs), median(p50), median(p99), median(cpu)
	return res, nil
}

// bareRun is one repetition, writing rows from first on.
func bareRun(ctx context.Context, o options, conn *pgx.Conn, s *sink, first int) (result, error) {
	var r result
	if err := s.reset(); err != nil {
		return r, err
	}
	cpu0, t0 := cpuTime(), time.Now()
	if err := write(ctx, conn, first, first+o.rows-1, o.txSize, o.rate); err != nil {
		return r, err
	}
	if err := s.waitFor(int64(o.rows), o.timeout); err != nil {
		return r, err
	}
	cpu := cpuTime() - cpu0
	st, err := s.stats()
	if err != nil {
		return r, err
	}
	r.PerSec = float64(st.Unique) / st.LastAt.Sub(t0).Seconds()
	r.P50MS, r.P99MS = percentileMS(st.LatenciesUS, 50), percentileMS(st.LatenciesUS, 99)
	r.CPUPer100k = cpu.Seconds() / float64(st.Unique) * 100000
	return r, nil
}

// insert is one decoded insert with its transaction's position.
type insert struct {
	rel    *pglogrepl.RelationMessage
	tuple  *pglogrepl.TupleData
	commit time.Time
	lsn    pglogrepl.LSN
	idx    int
}

// reader hands each insert to out with its transaction's commit time,
// LSN and index.
func reader(out chan<- insert) func(pglogrepl.Message) bool {
	rels := map[uint32]*pglogrepl.RelationMessage{}
	var commit time.Time
	var lsn pglogrepl.LSN
	idx := 0
	return func(m pglogrepl.Message) bool {
		switch m := m.(type) {
		case *pglogrepl.RelationMessage:
			rels[m.RelationID] = m
		case *pglogrepl.BeginMessage:
			commit, lsn, idx = m.CommitTime, m.FinalLSN, 0
		case *pglogrepl.InsertMessage:
			idx++
			out <- insert{rel: rels[m.RelationID], tuple: m.Tuple, commit: commit, lsn: lsn, idx: idx}
		}
		return true
	}
}

// bareWorker encodes, signs and posts inserts until the channel closes;
// failures are dropped (a bare pipeline has no retries). Its buffers and
// HMAC are reused from one request to the next.
func bareWorker(ctx context.Context, c *http.Client, url string, in <-chan insert) {
	p := newPoster(c, url)
	var body []byte
	for ins := range in {
		id := "evt_" + ins.lsn.String() + "_" + strconv.Itoa(ins.idx)
		body = encode(body[:0], id, ins)
		_ = p.post(ctx, id, body)
	}
}

// encode appends the JSON payload of ins (walhook's payload shape, every
// column as its text value) to b.
func encode(b []byte, id string, ins insert) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, id)
	b = append(b, `,"event":"created","table":`...)
	b = appendJSONString(b, ins.rel.Namespace+"."+ins.rel.RelationName)
	b = append(b, `,"occurred_at":"`...)
	b = ins.commit.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","lsn":"`...)
	b = append(b, ins.lsn.String()...)
	b = append(b, `","data":{`...)
	for i, c := range ins.tuple.Columns {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, ins.rel.Columns[i].Name)
		b = append(b, ':')
		if c.DataType == 't' {
			b = appendJSONString(b, string(c.Data))
		} else {
			b = append(b, "null"...)
		}
	}
	return append(b, "}}"...)
}

// appendJSONString appends s as a JSON string: quotes, backslashes and
// control characters escaped, everything else (valid UTF-8 from the
// server) as is.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, `\u00`...)
			b = append(b, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
