package p2p

import (
	"time"

	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
)

// Idle costs (docs/benchmarks.md, "Idle daemons"). An idle connection
// costs what its muxer sends to keep it: yamux pings it on two clocks,
// the keepalive (KeepAliveInterval after the last frame received, so
// about one ping per idle connection per interval, from whichever side's
// timer fires first) and the RTT measurement (every MeasureRTTInterval
// from each side, whatever the traffic). Each ping wakes goroutines on
// both sides.

// yamuxRTTEvery is how often yamux re-measures a connection's round-trip
// time; its default is 30 s. The measure only tunes how fast a stream's
// receive window grows (a window grows when it is used up within 4 RTTs);
// the first measure, taken as the connection opens, is kept, and a path
// whose RTT changes is in practice a new connection (a relayed one
// upgraded to direct). A dead connection is found by the keepalive, which
// stays at yamux's 30 s (a ping unanswered within its 10 s write timeout
// closes the connection): the fault suite's partitions are noticed as
// soon as before.
const yamuxRTTEvery = 5 * time.Minute

// yamuxTransport is yamux as libp2p configures it, but for yamuxRTTEvery.
func yamuxTransport() *yamux.Transport {
	t := *yamux.DefaultTransport // a copy: the default is shared
	t.MeasureRTTInterval = yamuxRTTEvery
	return &t
}
