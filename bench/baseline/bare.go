package main

import (
	"context"
	"encoding/json"
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
	bodies := make(chan [2]string, 1024)
	var wg sync.WaitGroup
	wg.Add(1 + o.inFlight)
	go func() {
		defer wg.Done()
		defer close(bodies)
		if err := stream(ctx, cluster.DSN("postgres"), "bare", encoder(bodies)); err != nil {
			fmt.Fprintln(os.Stderr, "bare pipeline stream:", err)
		}
	}()
	client := keepAlive(o.inFlight)
	for range o.inFlight {
		go func() {
			defer wg.Done()
			poster(ctx, client, s.URL+"/webhooks", bodies)
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

// encoder turns each insert into a [webhook-id, JSON body] pair.
func encoder(out chan<- [2]string) func(pglogrepl.Message) bool {
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
			rel := rels[m.RelationID]
			data := make(map[string]any, len(m.Tuple.Columns))
			for i, c := range m.Tuple.Columns {
				if c.DataType == 't' {
					data[rel.Columns[i].Name] = string(c.Data)
				} else {
					data[rel.Columns[i].Name] = nil
				}
			}
			idx++
			id := "evt_" + lsn.String() + "_" + strconv.Itoa(idx)
			body, _ := json.Marshal(map[string]any{
				"id": id, "event": "created", "table": rel.Namespace + "." + rel.RelationName,
				"occurred_at": commit.UTC().Format(time.RFC3339Nano), "lsn": lsn.String(), "data": data,
			})
			out <- [2]string{id, string(body)}
		}
		return true
	}
}

// poster posts bodies until the channel closes; failures are dropped (a
// bare pipeline has no retries).
func poster(ctx context.Context, c *http.Client, url string, in <-chan [2]string) {
	for b := range in {
		_ = post(ctx, c, url, b[0], []byte(b[1]))
	}
}
