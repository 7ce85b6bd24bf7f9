package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/walhook/walhook/deliver"
)

// receiver is a webhook receiver that verifies Standard Webhooks signatures
// and prints one line per event (and the body unless quiet). It backs
// `walhook dev` and `walhook receive`.
type receiver struct {
	secrets []string
	out     io.Writer
	quiet   bool

	mu   sync.Mutex
	seen int
}

// maxReceiveBytes caps the body the receiver reads.
const maxReceiveBytes = 8 << 20

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST webhooks here", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxReceiveBytes))
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	verdict := "unsigned"
	if len(rc.secrets) > 0 {
		if err := deliver.Verify(rc.secrets, r.Header, body, 5*time.Minute); err != nil {
			rc.print(r, body, "REJECTED ("+err.Error()+")")
			http.Error(w, "signature: "+err.Error(), http.StatusUnauthorized)
			return
		}
		verdict = "signature ok"
	}
	rc.print(r, body, verdict)
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) print(r *http.Request, body []byte, verdict string) {
	var head struct {
		Event string `json:"event"`
		Table string `json:"table"`
	}
	_ = json.Unmarshal(body, &head)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.seen++
	fmt.Fprintf(rc.out, "#%d %s %s %s %s [%s]\n", rc.seen, r.URL.Path, r.Header.Get("webhook-id"), head.Event, head.Table, verdict)
	if rc.quiet {
		return
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, body, "   ", "  ") == nil {
		fmt.Fprintf(rc.out, "   %s\n", pretty.Bytes())
	} else {
		fmt.Fprintf(rc.out, "   %q\n", body)
	}
}
