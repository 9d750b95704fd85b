package node

import (
	"strings"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/p2p"
	"github.com/loamdb/loam/internal/reconcile"
)

// TestSessionOpenRetried: the node that dials the sync stream to a newly
// connected peer tries again when the stream cannot be opened while the
// peer stays connected: here the peer does not serve sync yet when it
// connects (a node still starting, whose host is up before its handlers).
// Before, the one failed Open left the two connected without a session
// until the connection dropped: a join over it waited for its grant
// until its deadline.
func TestSessionOpenRetried(t *testing.T) {
	n, log := openLogged(t, false)
	var key keys.DeviceKey
	for seed := byte(1); ; seed++ { // a peer to which the node dials the sync stream
		key = keys.DeviceKeyFromSeed([32]byte{seed, 77})
		if n.dialsTo(key.Author()) {
			break
		}
	}
	h := bareHost(t, key)
	if _, err := h.Connect(ctxT(t), n.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the node's first Open to fail", func() bool {
		return strings.Contains(log.String(), "sync stream not opened")
	})
	opened := make(chan struct{}, 1)
	h.Handle(reconcile.ProtocolID, func(s p2p.Stream) {
		select {
		case opened <- struct{}{}:
		default:
		}
		s.Close()
	})
	select {
	case <-opened:
	case <-time.After(20 * time.Second):
		t.Fatal("the node did not open the sync stream again while the peer stayed connected")
	}
}
