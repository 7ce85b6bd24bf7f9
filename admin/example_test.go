package admin_test

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/walhook/walhook/admin"
)

// An adapter satisfies the interfaces admin declares; cmd/walhook writes
// them over store, router and deliver. Unwired interfaces answer 501.
type readyAdapter struct{}

func (readyAdapter) Ready(context.Context) error { return nil }

func ExampleNew() {
	reg := prometheus.NewRegistry()
	srv, err := admin.New(admin.Options{
		Listen:     "127.0.0.1:8089", // loopback: a token is optional
		Health:     readyAdapter{},
		Gatherer:   reg,
		Registerer: reg,
		StartedAt:  time.Now(),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = srv // in cmd/walhook: g.Go(func() error { return srv.Run(ctx) })

	_, err = admin.New(admin.Options{Listen: "0.0.0.0:8089"})
	fmt.Println(err)
	// Output:
	// create admin server: 0.0.0.0:8089 is not a loopback address, so the admin API needs a token; set admin.token (e.g. ${WALHOOK_ADMIN_TOKEN}) or listen on 127.0.0.1
}
