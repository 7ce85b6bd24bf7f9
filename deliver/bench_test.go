package deliver

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/rs/zerolog"
)

// BenchmarkDispatcher measures events/s from Submit to settled against a
// local keep-alive receiver, one event per request and in batches of 50,
// with 64 rows spread over the endpoint's lanes.
func BenchmarkDispatcher(b *testing.B) {
	srv, _ := newServer(b, func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) })
	for _, batch := range []int{1, 50} {
		b.Run(fmt.Sprint("batch=", batch), func(b *testing.B) {
			d, err := NewDispatcher(Options{AllowNetworks: loopback, Logger: zerolog.Nop()})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- d.Run(ctx) }()
			defer func() { cancel(); <-done; d.client.CloseIdleConnections() }()
			ep := &Endpoint{URL: srv.URL, SubscriptionID: 1, Secrets: []string{specSecret}, BatchSize: batch}
			var settled atomic.Int64
			all := make(chan struct{})
			settle := func() {
				if settled.Add(1) == int64(b.N) {
					close(all)
				}
			}
			keys := make([]string, 64)
			for i := range keys {
				keys[i] = fmt.Sprint("row", i)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				ev := &Event{ID: "evt_bench", Endpoint: ep, OrderKey: keys[i%len(keys)], Settle: settle,
					Body: []byte(`{"id":"evt_bench","event":"updated","table":"public.users","data":{"id":7}}`)}
				if err := d.Submit(ctx, ev); err != nil {
					b.Fatal(err)
				}
			}
			<-all
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
