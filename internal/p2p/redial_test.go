package p2p

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/libp2p/go-libp2p/p2p/net/swarm"
)

// TestRedial: a dial that times out is made again, after 1 s, 2 s, 4 s,
// at most 3 times; one that fails otherwise, or whose context ends, is not.
func TestRedial(t *testing.T) {
	timeout := fmt.Errorf("dial: %w", context.DeadlineExceeded)
	refused := fmt.Errorf("dial: %w", syscall.ECONNREFUSED)
	for _, tc := range []struct {
		name  string
		errs  []error // what each dial returns; the last repeats
		calls int
		took  time.Duration
		err   error
	}{
		{"succeeds at once", []error{nil}, 1, 0, nil},
		{"times out twice", []error{timeout, timeout, nil}, 3, 3 * time.Second, nil},
		{"swarm's timeout", []error{swarm.ErrDialTimeout, nil}, 2, time.Second, nil},
		{"refused", []error{refused}, 1, 0, refused},
		{"always times out", []error{timeout}, 4, 7 * time.Second, timeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				calls := 0
				start := time.Now()
				err := redial(t.Context(), func() error {
					calls++
					return tc.errs[min(calls, len(tc.errs))-1]
				})
				if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
					t.Errorf("redial returned %v, want %v", err, tc.err)
				}
				if calls != tc.calls || time.Since(start) != tc.took {
					t.Errorf("%d dials in %v, want %d in %v", calls, time.Since(start), tc.calls, tc.took)
				}
			})
		})
	}
	t.Run("context ends", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
			defer cancel()
			calls := 0
			start := time.Now()
			err := redial(ctx, func() error { calls++; return timeout })
			if !errors.Is(err, context.DeadlineExceeded) || calls != 2 || time.Since(start) != 1500*time.Millisecond {
				t.Errorf("redial returned %v after %d dials in %v, want a timeout after 2 in 1.5s", err, calls, time.Since(start))
			}
		})
	})
}

// TestTimedOut: the error of a TCP dial whose time ran out is a timeout;
// a refused dial's is not.
func TestTimedOut(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, refused := net.Dial("tcp4", addr)
	if refused == nil || timedOut(refused) {
		t.Errorf("a refused dial (%v) counts as a timeout", refused)
	}
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	var d net.Dialer
	_, late := d.DialContext(ctx, "tcp4", addr)
	if late == nil || !timedOut(late) {
		t.Errorf("a dial out of time (%v) does not count as a timeout", late)
	}
	// The same connect when the socket's deadline fired first, as net
	// returns it then: this one ended TestConnectRedialsAfterTimeout's
	// connect in CI after one dial.
	polled := fmt.Errorf("failed to dial: %w", &net.OpError{Op: "dial", Net: "tcp4", Err: os.ErrDeadlineExceeded})
	if !timedOut(polled) {
		t.Errorf("a dial whose socket deadline fired (%v) does not count as a timeout", polled)
	}
}
