package p2p

import (
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/p2p/protocol/identify"

	"github.com/loamdb/loam/internal/version"
)

// agentOf identifies b from a over their connection and returns the agent
// version b announced.
func agentOf(t *testing.T, a, b *Host) string {
	t.Helper()
	ids := a.h.(interface{ IDService() identify.IDService }).IDService()
	for _, c := range a.h.Network().ConnsToPeer(b.h.ID()) {
		select {
		case <-ids.IdentifyWait(c):
		case <-time.After(testTimeout):
			t.Fatalf("identify of %s did not finish within %s", b.ID().Short(), testTimeout)
		}
	}
	v, err := a.h.Peerstore().Get(b.h.ID(), "AgentVersion")
	if err != nil {
		t.Fatalf("no agent version recorded for %s: %v", b.ID().Short(), err)
	}
	return v.(string)
}

func TestAgentVersion(t *testing.T) {
	a := newTestHost(t, Config{}, tcpLoopback)
	b := newTestHost(t, Config{}, tcpLoopback)
	c := newTestHost(t, Config{AgentVersion: "loam/v9.9.9"}, tcpLoopback)
	connect(t, a, b, "/tcp/")
	connect(t, a, c, "/tcp/")
	if got, want := agentOf(t, a, b), "loam/"+version.Get().Version; got != want {
		t.Errorf("default agent version %q, want %q", got, want)
	}
	if got := agentOf(t, a, c); got != "loam/v9.9.9" {
		t.Errorf("agent version %q, want the configured loam/v9.9.9", got)
	}
}
