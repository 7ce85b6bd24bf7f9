package main

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pglogrepl"
)

// runDecode writes a backlog of o.rows rows (in o.txSize-row transactions)
// once, with one slot per repetition created before it, then reads each
// slot from the start, parsing every pgoutput message and doing nothing
// else, and times it until the last insert.
func runDecode(ctx context.Context, o options) (result, error) {
	res := result{Mode: "decode", Rows: o.rows}
	cluster, conn, err := startDB(ctx)
	if err != nil {
		return res, err
	}
	defer cluster.Stop()
	defer conn.Close(ctx)
	for i := range o.repeat {
		if err := createSlot(ctx, conn, fmt.Sprintf("decode_%d", i)); err != nil {
			return res, err
		}
	}
	if err := write(ctx, conn, 1, o.rows, o.txSize, 0); err != nil {
		return res, err
	}
	for i := range o.repeat {
		rctx, cancel := context.WithTimeout(ctx, o.timeout)
		inserts := 0
		start, cpu0 := time.Now(), cpuTime()
		err := stream(rctx, cluster.DSN("postgres"), fmt.Sprintf("decode_%d", i), func(m pglogrepl.Message) bool {
			if _, ok := m.(*pglogrepl.InsertMessage); ok {
				inserts++
			}
			return inserts < o.rows
		})
		elapsed := time.Since(start)
		res.CPUPer100k = (cpuTime() - cpu0).Seconds() / float64(o.rows) * 100000
		cancel()
		if err != nil || inserts < o.rows {
			return res, fmt.Errorf("decoded %d of %d rows: %v", inserts, o.rows, err)
		}
		res.Runs = append(res.Runs, float64(o.rows)/elapsed.Seconds())
	}
	res.PerSec = median(res.Runs)
	return res, nil
}
