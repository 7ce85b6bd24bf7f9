package main

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// runPost posts o.rows small signed JSON bodies (the size of a walhook
// payload) to the bench receiver with o.inFlight requests in flight over
// keep-alive connections, and reports requests per second.
func runPost(ctx context.Context, o options) (result, error) {
	res := result{Mode: "post", Rows: o.rows, InFlight: o.inFlight}
	s, err := startSink(o.walhook)
	if err != nil {
		return res, err
	}
	defer s.Close()
	client := keepAlive(o.inFlight)
	for i := range o.repeat {
		if err := s.reset(); err != nil {
			return res, err
		}
		start := time.Now()
		if err := postAll(ctx, client, s.URL+"/webhooks", i, o); err != nil {
			return res, err
		}
		res.Runs = append(res.Runs, float64(o.rows)/time.Since(start).Seconds())
	}
	res.PerSec = median(res.Runs)
	return res, nil
}

// postAll posts o.rows bodies with o.inFlight workers.
func postAll(ctx context.Context, client httpDoer, url string, rep int, o options) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, o.inFlight)
	for range o.inFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := newPoster(client, url)
			for {
				n := next.Add(1)
				if n > int64(o.rows) {
					return
				}
				id := "evt_" + strconv.Itoa(rep) + "_" + strconv.FormatInt(n, 10)
				if err := p.post(ctx, id, sampleBody(id, n)); err != nil {
					errs <- fmt.Errorf("post %s: %w", id, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// sampleBody is a payload shaped like walhook's for the bench table.
func sampleBody(id string, n int64) []byte {
	s := strconv.FormatInt(n, 10)
	return []byte(`{"id":"` + id + `","event":"created","table":"public.bench","occurred_at":"` +
		time.Now().UTC().Format(time.RFC3339Nano) + `","lsn":"0/16B6C50","data":{"id":` + s +
		`,"name":"user ` + s + `","email":"user` + s + `@example.com","amount":12.34,"active":true,` +
		`"tags":["bench","tag3"],"meta":{"n":` + s + `,"plan":"pro"},"created_at":"2026-11-29T03:00:00.123456Z"}}`)
}
