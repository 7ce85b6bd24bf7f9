package store

import (
	"context"
	"fmt"
	"testing"

	"github.com/walhook/walhook/deliver"
)

// BenchmarkLookupHit is the router's hot path: a cached lookup.
func BenchmarkLookupHit(b *testing.B) {
	db, _ := openDB(b, Options{})
	addSubscriber(b, db, "a", "public.users", "https://a.example.com/", "created")
	ctx := context.Background()
	if _, err := db.Lookup(ctx, "public.users", "created"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if subs, _ := db.Lookup(ctx, "public.users", "created"); len(subs) != 1 {
				b.Fatal("miss")
			}
		}
	})
}

// BenchmarkHasParked is asked for every event deliver sends.
func BenchmarkHasParked(b *testing.B) {
	db, _ := openDB(b, Options{})
	keys := make([]parkKey, 10000)
	for i := range keys {
		keys[i] = parkKey{1, fmt.Sprint(i)}
	}
	db.parked.add(keys)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			db.HasParked(1, "12345")
			i++
		}
	})
}

// BenchmarkRecord is the hand-off from delivery goroutines.
func BenchmarkRecord(b *testing.B) {
	db, _ := openDB(b, Options{RecorderBuffer: 1 << 16})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range db.rec.ch {
		}
	}()
	a := attempt(eventFor(1, 1, "e", "k"), 200)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			db.Record(a)
		}
	})
	b.StopTimer()
	close(db.rec.ch)
	<-done
}

// BenchmarkWriteAttempts writes batches of 1000 attempts (log rows by COPY
// and counters); ns/op is per attempt.
func BenchmarkWriteAttempts(b *testing.B) {
	db, _ := openDB(b, Options{})
	subr, subs := addSubscriber(b, db, "a", "public.users", "https://a.example.com/", "created")
	body := []byte(`{"id":"evt_0123456789","event":"created","table":"public.users","data":{"id":7,"email":"a@example.com"}}`)
	batch := make([]deliver.Attempt, 1000)
	for i := range batch {
		ev := eventFor(subr, subs[0], fmt.Sprint("evt_", i), "k")
		ev.Body = body
		batch[i] = attempt(ev, 200)
		batch[i].ResponseBody = "ok"
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += len(batch) {
		n := min(len(batch), b.N-i)
		if _, err := db.writeAttempts(ctx, batch[:n]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPark parks 100 events per call; ns/op is per event.
func BenchmarkPark(b *testing.B) {
	db, _ := openDB(b, Options{})
	subr, subs := addSubscriber(b, db, "a", "public.users", "https://a.example.com/", "created")
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += 100 {
		n := min(100, b.N-i)
		ps := make([]deliver.Parked, n)
		for j := range ps {
			ps[j] = deliver.Parked{Event: eventFor(subr, subs[0], fmt.Sprint("e", i+j), fmt.Sprint("row", (i+j)%50))}
		}
		if err := db.Park(ctx, ps); err != nil {
			b.Fatal(err)
		}
	}
}
