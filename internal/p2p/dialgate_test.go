package p2p

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/keys"
)

// silentListeners opens n TCP listeners on loopback that accept and then
// never answer: a dial there holds its place in the swarm's dial queue
// until it times out, as one to an address behind a firewall that drops
// packets does. It returns their addresses and the count of connections
// accepted.
func silentListeners(t *testing.T, n int) ([]string, *atomic.Int64) {
	t.Helper()
	var accepted atomic.Int64
	var addrs []string
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", l.Addr().(*net.TCPAddr).Port))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				accepted.Add(1)
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		}()
		ls = append(ls, l)
	}
	t.Cleanup(func() {
		for _, l := range ls {
			l.Close()
		}
		wg.Wait()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return addrs, &accepted
}

// TestTicketDialsGoFirst is issue 10 G: discovery dials to addresses that
// hang, as many as the swarm runs at once, do not hold back the dial of a
// ticket's peer: ConnectAddrs connects at once.
func TestTicketDialsGoFirst(t *testing.T) {
	a := newTestHost(t, Config{}, tcpLoopback)
	b := newTestHost(t, Config{}, tcpLoopback)
	silent, accepted := silentListeners(t, 8)
	// 20 providers found in a DHT, 8 hanging addresses each: 160 dials,
	// all the swarm runs at once.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for range 20 {
		k, err := keys.NewDeviceKey()
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { a.ConnectAny(ctx, PeerInfo{ID: k.Author(), Addrs: silent}) })
	}
	waitFor(t, "the discovery dials to hang", func() bool { return accepted.Load() >= 32 })

	tctx, tcancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer tcancel()
	start := time.Now()
	reached, err := a.ConnectAddrs(tctx, []string{addrWith(t, b, "/tcp/")})
	t.Logf("the ticket's dial took %s with %d hanging dials accepted", time.Since(start).Round(time.Millisecond), accepted.Load())
	if err != nil || len(reached) != 1 {
		t.Fatalf("ConnectAddrs behind hanging discovery dials: %v", err)
	}
}
