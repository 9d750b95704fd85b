package p2p

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	tls "github.com/libp2p/go-libp2p/p2p/security/tls"
	"go.uber.org/goleak"

	"github.com/loamdb/loam/internal/keys"
)

func TestHostIdentityAndAddrs(t *testing.T) {
	k, err := keys.NewDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	h := newTestHost(t, Config{Key: k})
	if h.ID() != k.Author() {
		t.Fatalf("ID() = %s, want the device author %s", h.ID(), k.Author())
	}
	if h.h.ID() != peerIDOf(k.Author()) {
		t.Fatalf("libp2p ID %s, want %s", h.h.ID(), PeerIDString(k.Author()))
	}
	addrs := h.Addrs()
	if !slices.IsSorted(addrs) {
		t.Errorf("Addrs() not sorted: %v", addrs)
	}
	suffix := "/p2p/" + PeerIDString(h.ID())
	for _, a := range addrs {
		if !strings.HasSuffix(a, suffix) || !strings.HasPrefix(a, "/ip4/127.0.0.1/") {
			t.Errorf("address %q: want loopback with suffix %s", a, suffix)
		}
	}
	addrWith(t, h, "/tcp/")
	addrWith(t, h, "/quic-v1")
}

func TestNewRejectsZeroKey(t *testing.T) {
	if _, err := New(testContext(t), Config{Listen: []string{tcpLoopback}}); err == nil {
		t.Fatal("New without a key succeeded")
	}
}

func TestConnect(t *testing.T) {
	for _, tp := range transports {
		t.Run(tp.name, func(t *testing.T) {
			a := newTestHost(t, Config{}, tp.listen)
			b := newTestHost(t, Config{}, tp.listen)
			ea, eb := notifications(a), notifications(b)
			connect(t, a, b, tp.marker)
			// b may add the connection after a's Connect returns.
			waitEvent(t, ea, notice{b.ID(), true})
			waitEvent(t, eb, notice{a.ID(), true})

			if tp.name == "TCP" {
				// TLS is offered first, so it wins over Noise.
				st := a.h.Network().ConnsToPeer(b.h.ID())[0].ConnState()
				if st.Security != tls.ID || st.StreamMultiplexer != yamux.ID {
					t.Errorf("connection security %s, muxer %s; want %s, %s",
						st.Security, st.StreamMultiplexer, tls.ID, yamux.ID)
				}
			}
			for _, pair := range [][2]*Host{{a, b}, {b, a}} {
				info := peerInfo(t, pair[0], pair[1].ID())
				if !info.Connected || !info.Direct {
					t.Errorf("peer info %+v: want connected and direct", info)
				}
				if len(info.Addrs) == 0 || !strings.Contains(info.Addrs[0], tp.marker) {
					t.Errorf("peer addrs %v: want a %s address", info.Addrs, tp.name)
				}
				if time.Since(info.LastSeen) > time.Minute {
					t.Errorf("LastSeen = %v, want recent", info.LastSeen)
				}
			}
		})
	}
}

func TestConnectPeer(t *testing.T) {
	a := newTestHost(t, Config{})
	b := newTestHost(t, Config{})
	// With and without the /p2p/ suffix.
	full := addrWith(t, b, "/tcp/")
	bare := full[:strings.Index(full, "/p2p/")]
	if err := a.ConnectPeer(testContext(t), PeerInfo{ID: b.ID(), Addrs: []string{bare, full}}); err != nil {
		t.Fatalf("ConnectPeer: %v", err)
	}
	if !peerInfo(t, a, b.ID()).Connected {
		t.Fatal("not connected after ConnectPeer")
	}
	// An address naming another peer is refused.
	c := newTestHost(t, Config{})
	err := a.ConnectPeer(testContext(t), PeerInfo{ID: c.ID(), Addrs: []string{full}})
	if err == nil || !strings.Contains(err.Error(), "another peer") {
		t.Fatalf("ConnectPeer with another peer's address: %v", err)
	}
}

func TestNotify(t *testing.T) {
	a := newTestHost(t, Config{})
	b := newTestHost(t, Config{})
	ea, eb := notifications(a), notifications(b)

	connect(t, a, b, "/tcp/")
	waitEvent(t, ea, notice{b.ID(), true})
	waitEvent(t, eb, notice{a.ID(), true})

	// A second connection (QUIC) to a connected peer is not a new peer.
	connect(t, a, b, "/quic-v1")

	if err := a.Disconnect(b.ID()); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, ea, notice{b.ID(), false})
	waitEvent(t, eb, notice{a.ID(), false})

	connect(t, b, a, "/quic-v1")
	waitEvent(t, ea, notice{b.ID(), true})
	waitEvent(t, eb, notice{a.ID(), true})
	if info := peerInfo(t, a, b.ID()); !info.Connected {
		t.Errorf("a's info for b after reconnect: %+v", info)
	}
}

func TestClose(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	a := newTestHost(t, Config{})
	b := newTestHost(t, Config{})
	handlerStarted, handlerDone := make(chan struct{}), make(chan struct{})
	b.Handle(echoProto, func(s Stream) {
		defer close(handlerDone)
		defer s.Close()
		if _, err := io.ReadFull(s, make([]byte, 5)); err != nil {
			return
		}
		close(handlerStarted)
		io.Copy(io.Discard, s) // blocks until the stream fails
	})
	connect(t, a, b, "/tcp/")
	connect(t, a, b, "/quic-v1")
	s, err := a.Open(testContext(t), b.ID(), echoProto)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-handlerStarted:
	case <-time.After(testTimeout):
		t.Fatal("handler did not start")
	}

	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case <-handlerDone:
	default:
		t.Fatal("Close returned while a handler was still running")
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := a.Open(testContext(t), b.ID(), echoProto); err == nil {
		t.Fatal("Open after Close succeeded")
	}
}

// TestConnectAfterFailedDial: a peer that was offline when dialled and
// is back at the same address is reached by the next explicit Connect or
// ConnectAddrs. libp2p backs a failed address off for 5 s and more (each
// failure longer), and fails every dial meanwhile with "dial backoff": an
// explicit connect, asked for by a person or a ticket, must dial again.
func TestConnectAfterFailedDial(t *testing.T) {
	k, err := keys.NewDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	a := newTestHost(t, Config{}, tcpLoopback)
	b, err := New(context.Background(), Config{Key: k, Listen: []string{tcpLoopback}})
	if err != nil {
		t.Fatal(err)
	}
	addr := addrWith(t, b, "/tcp/")
	listen := addr[:strings.Index(addr, "/p2p/")]
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for _, call := range []struct {
		name    string
		connect func() error
	}{
		{"Connect", func() error { _, err := a.Connect(testContext(t), addr); return err }},
		{"ConnectAddrs", func() error { _, err := a.ConnectAddrs(testContext(t), []string{addr}); return err }},
	} {
		if err := call.connect(); err == nil {
			t.Fatalf("%s to a closed peer succeeded", call.name)
		}
	}
	b = newTestHost(t, Config{Key: k}, listen) // back, at the same address
	for _, call := range []struct {
		name    string
		connect func() error
	}{
		{"Connect", func() error { _, err := a.Connect(testContext(t), addr); return err }},
		{"ConnectAddrs", func() error { _, err := a.ConnectAddrs(testContext(t), []string{addr}); return err }},
	} {
		if err := call.connect(); err != nil {
			t.Fatalf("%s to the peer back at its address: %v", call.name, err)
		}
		if err := a.Disconnect(b.ID()); err != nil {
			t.Fatal(err)
		}
	}
}
