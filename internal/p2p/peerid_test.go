package p2p

import (
	"crypto/rand"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/loamdb/loam/internal/keys"
)

func TestPeerIDRoundTrip(t *testing.T) {
	for i := range 20 {
		var seed [32]byte
		seed[0] = byte(i)
		k := keys.DeviceKeyFromSeed(seed)
		a := k.Author()

		s := PeerIDString(a)
		if !strings.HasPrefix(s, "12D3KooW") {
			t.Errorf("PeerIDString(%s) = %q, want the 12D3KooW… form", a.Short(), s)
		}
		got, err := ParsePeerID(s)
		if err != nil || got != a {
			t.Fatalf("ParsePeerID(%q) = %s, %v; want %s", s, got, err, a)
		}
		// The libp2p identity made from the private key has the same ID.
		priv, err := crypto.UnmarshalEd25519PrivateKey(k.Ed25519())
		if err != nil {
			t.Fatal(err)
		}
		pid, err := peer.IDFromPrivateKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		if pid.String() != s {
			t.Errorf("peer ID of the private key = %s, PeerIDString = %s", pid, s)
		}
		// The CID text form parses to the same author.
		if got, err := ParsePeerID(peer.ToCid(pid).String()); err != nil || got != a {
			t.Errorf("ParsePeerID(CID of %s) = %s, %v", s, got, err)
		}
	}
}

func TestParsePeerIDRejects(t *testing.T) {
	secp, _, err := crypto.GenerateSecp256k1Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	secpID, err := peer.IDFromPrivateKey(secp)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, s string
		notEd   bool
	}{
		{"secp256k1", secpID.String(), true},
		{"sha256 (RSA-style)", "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N", true},
		{"empty", "", false},
		{"garbage", "hello", false},
		{"author text form", keys.AuthorID{1}.String(), false},
	} {
		_, err := ParsePeerID(tc.s)
		if err == nil {
			t.Errorf("%s: ParsePeerID(%q) succeeded", tc.name, tc.s)
			continue
		}
		if errors.Is(err, ErrNotEd25519) != tc.notEd {
			t.Errorf("%s: ParsePeerID(%q) = %v; errors.Is(ErrNotEd25519) = %v, want %v",
				tc.name, tc.s, err, !tc.notEd, tc.notEd)
		}
	}
}

// TestRefuseNonEd25519 checks that a libp2p node whose identity is not an
// Ed25519 key can neither connect to a Host nor be dialed by it.
func TestRefuseNonEd25519(t *testing.T) {
	h := newTestHost(t, Config{}, tcpLoopback)
	serveEcho(h)
	eh := notifications(h)

	secp, _, err := crypto.GenerateSecp256k1Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// A bare libp2p host: TCP on loopback only, nothing else.
	other, err := libp2p.New(
		libp2p.Identity(secp),
		libp2p.ListenAddrStrings(tcpLoopback),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.ResourceManager(&network.NullResourceManager{}),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	// Inbound: h refuses it after the handshake.
	ours, err := ma.NewMultiaddr(addrWith(t, h, "/tcp/"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := peer.AddrInfoFromP2pAddr(ours)
	if err != nil {
		t.Fatal(err)
	}
	// other may complete its side of the handshake (TLS negotiates the
	// muxer too) before h refuses the connection; h never serves it.
	_ = other.Connect(testContext(t), *info)
	if s, err := other.NewStream(testContext(t), info.ID, echoProto); err == nil {
		s.SetDeadline(time.Now().Add(testTimeout))
		_, werr := s.Write([]byte("x"))
		_ = s.CloseWrite()
		got, rerr := io.ReadAll(s)
		s.Reset()
		if werr == nil && rerr == nil && len(got) > 0 {
			t.Error("a secp256k1 peer got an echo")
		}
	}
	if n := len(h.h.Network().ConnsToPeer(other.ID())); n != 0 {
		t.Errorf("h kept %d connections from a secp256k1 peer", n)
	}
	if got := h.Peers(); len(got) != 0 {
		t.Errorf("Peers() = %+v, want none", got)
	}
	select {
	case e := <-eh:
		t.Errorf("notification for a refused peer: %+v", e)
	default:
	}

	// Outbound: h will not dial it.
	addr := other.Addrs()[0].String() + "/p2p/" + other.ID().String()
	if _, err := h.Connect(testContext(t), addr); !errors.Is(err, ErrNotEd25519) {
		t.Errorf("Connect to a secp256k1 peer: %v, want ErrNotEd25519", err)
	}
}

func TestHasPublicAddr(t *testing.T) {
	for _, tc := range []struct {
		addrs []string
		want  bool
	}{
		{nil, false},
		{[]string{"/ip4/127.0.0.1/tcp/4001", "/ip4/192.168.1.5/udp/4001/quic-v1", "/ip6/::1/tcp/1"}, false},
		{[]string{"/ip4/10.0.0.2/tcp/4001", "/ip4/11.0.0.3/tcp/4001/p2p/12D3KooWDbxjb55eDgjCFyKmYVutSDNFfpzt4ZUHfXdAFDUZATX8"}, true},
		{[]string{"not an address", "/ip4/203.0.113.9/tcp/1"}, false}, // 203.0.113.0/24 is documentation space
		{[]string{"/ip4/198.51.100.1/tcp/1", "/ip4/1.1.1.1/udp/4001/quic-v1"}, true},
	} {
		if got := HasPublicAddr(tc.addrs); got != tc.want {
			t.Errorf("HasPublicAddr(%v) = %v, want %v", tc.addrs, got, tc.want)
		}
	}
}

func TestRankAddrs(t *testing.T) {
	got := RankAddrs([]string{
		"/ip4/127.0.0.1/tcp/1",
		"/ip4/11.0.0.2/tcp/1/p2p/12D3KooWKxXyQj9BniMERQZNtyLL5vj9EpQQDe49GzmT62UVwUWt/p2p-circuit",
		"not an address",
		"/ip4/192.168.1.2/tcp/1",
		"/ip4/11.0.0.3/udp/1/quic-v1",
		"/ip6/::1/tcp/1",
	})
	want := []string{
		"/ip4/11.0.0.3/udp/1/quic-v1",
		"/ip4/192.168.1.2/tcp/1",
		"/ip4/127.0.0.1/tcp/1",
		"/ip6/::1/tcp/1",
		"/ip4/11.0.0.2/tcp/1/p2p/12D3KooWKxXyQj9BniMERQZNtyLL5vj9EpQQDe49GzmT62UVwUWt/p2p-circuit",
		"not an address",
	}
	if !slices.Equal(got, want) {
		t.Errorf("RankAddrs:\n got %q\nwant %q", got, want)
	}
}
