package p2p

import (
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
)

// TestYamuxIdleSettings: the RTT is re-measured every 5 minutes, not
// every 30 s, while the keepalive that finds dead connections keeps
// yamux's defaults, and the shared default transport is left alone.
func TestYamuxIdleSettings(t *testing.T) {
	y := yamuxTransport()
	if y.MeasureRTTInterval != yamuxRTTEvery {
		t.Errorf("RTT measured every %v, want %v", y.MeasureRTTInterval, yamuxRTTEvery)
	}
	if !y.EnableKeepAlive || y.KeepAliveInterval != 30*time.Second || y.ConnectionWriteTimeout != 10*time.Second {
		t.Errorf("keepalive %v every %v, write timeout %v: want on, 30s, 10s", y.EnableKeepAlive, y.KeepAliveInterval, y.ConnectionWriteTimeout)
	}
	if yamux.DefaultTransport.MeasureRTTInterval != 30*time.Second {
		t.Errorf("the shared default transport was changed: %v", yamux.DefaultTransport.MeasureRTTInterval)
	}
}
