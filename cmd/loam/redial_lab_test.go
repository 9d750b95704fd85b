package main

import (
	"context"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/netlab"
)

// TestConnectRedialsAfterTimeout: a connect asked for dials again when a
// dial times out. The internet drops every SYN to daemon b until a second
// dial has begun: libp2p's TCP connect gives up after 5 s, so a SYN
// dropped more than 5.5 s after the first is a second dial's. It failed
// before (TestLossySlowLinks's "connect daemon 1 to daemon 4: ... i/o
// timeout" at 10% loss): the connect ended with the first dial.
func TestConnectRedialsAfterTimeout(t *testing.T) {
	netlab.SkipIfMissing(t)
	if testing.Short() {
		t.Skip("skipped with -short: two daemons in network namespaces")
	}
	lab := netlab.New(t, 0)
	a, _ := publicDaemon(t, lab)
	b, pb := publicDaemon(t, lab)
	addr := publicAddr(t, b, "/tcp/")
	client := labClient(t, a)
	dropped, stop := lab.DropSYNs(pb)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := client.Connect(ctx, addr)
		done <- err
	}()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond) // polls the counter
	defer tick.Stop()
	var first time.Time // the first SYN dropped, as the poll saw it
	before := -1        // SYNs dropped by 5.5 s after it
	for {
		n := dropped()
		switch {
		case n > 0 && first.IsZero():
			first = time.Now()
		case before < 0 && !first.IsZero() && time.Since(first) > 5500*time.Millisecond:
			before = n
		}
		if before >= 0 && n > before {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the connect ended after %d dropped SYNs, without dialling again: %v", n, err)
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d SYNs dropped in 30 s, none by a second dial", n)
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("the connect failed once SYNs got through again: %v", err)
	}
}
