package p2p

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// TestUpgradeStopsOnClose is issue 10's goroutine owner for DirectConnect:
// an Upgrade given up by its caller leaves DirectConnect running, and Close
// waits for it to return once the hole punching service closed (here a
// stand-in that ends some time after the libp2p host closes, as the
// service's does).
func TestUpgradeStopsOnClose(t *testing.T) {
	a := newTestHost(t, Config{}, tcpLoopback)
	b := newTestHost(t, Config{}, tcpLoopback)
	var started, returned atomic.Bool
	swarmDone := a.h.Network().(interface{ Done() <-chan struct{} }).Done()
	a.reach.punch = func(peer.ID) error {
		started.Store(true)
		<-swarmDone                       // the host closes
		time.Sleep(50 * time.Millisecond) // and DirectConnect unwinds: work, not synchronization
		returned.Store(true)
		return errors.New("closed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := a.Upgrade(ctx, b.ID()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Upgrade: %v, want its context's error", err)
	}
	waitFor(t, "DirectConnect to start", started.Load)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if !returned.Load() {
		t.Fatal("Close returned while an Upgrade's DirectConnect was still running")
	}
}
