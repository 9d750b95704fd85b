package p2p

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
)

// An explicit connect (Connect, ConnectAddrs: asked for by a person or a
// ticket) dials again when a dial times out, while its context lasts: on
// a link that loses packets a TCP dial fails within libp2p's 5 s connect
// timeout when its SYN and the two retransmitted ones are lost (about 1
// dial in 150 at 10% loss each way), and a person who asked to connect
// would have to ask again. A refused or unreachable address fails at once:
// dialling it again would not help. Discovery dials are not retried here:
// discovery comes back to the peer.
const (
	redials    = 3               // dials after the first
	redialWait = 1 * time.Second // before the first redial; doubled after each
)

// dialExplicit dials info for an explicit connect: without libp2p's dial
// backoff, limited connections allowed, dialling again after a timeout.
func (h *Host) dialExplicit(ctx context.Context, info peer.AddrInfo) error {
	return redial(ctx, func() error {
		h.forgetFailedDials(info.ID)
		return h.h.Connect(network.WithAllowLimitedConn(ctx, "loam: connect"), info)
	})
}

// redial calls dial until it succeeds, fails with an error other than a
// timeout, has been called 1+redials times, or ctx ends; it waits
// redialWait, then twice as long each time, between calls. It returns
// dial's last error.
func redial(ctx context.Context, dial func() error) error {
	wait := redialWait
	for n := 0; ; n++ {
		err := dial()
		if err == nil || n == redials || !timedOut(err) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait *= 2
	}
}

// timedOut reports whether a dial failed by a timeout of its own (a TCP
// connect, a handshake, the swarm's dial timeout). A TCP connect that
// runs out of time fails with the context's error or, when the socket's
// deadline fires before the context's timer, with os.ErrDeadlineExceeded
// (net's connect returns whichever it sees first).
func timedOut(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, swarm.ErrDialTimeout)
}
