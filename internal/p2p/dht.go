package p2p

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
	"google.golang.org/protobuf/proto"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	dhtpb "github.com/libp2p/go-libp2p-kad-dht/pb"
)

// DHTMode chooses the Kademlia DHT a Host joins.
type DHTMode int

const (
	// DHTOff joins no DHT: peers are found only by mDNS, tickets and
	// explicit connects. The zero value: tests and embedded uses stay
	// off the internet unless they ask.
	DHTOff DHTMode = iota
	// DHTAmino joins the public libp2p DHT ("Amino", shared with IPFS),
	// in client mode unless the Host is infrastructure.
	DHTAmino
	// DHTPrivate joins a DHT of Loam nodes only (PrivateDHTPrefix), for
	// closed networks and tests; it has only the bootstrap peers given.
	DHTPrivate
)

// PrivateDHTPrefix is the protocol prefix of DHTPrivate: its protocol is
// /loam/kad/1.0.0, which Amino nodes do not speak.
const PrivateDHTPrefix = "/loam"

var dhtModeNames = []string{DHTOff: "off", DHTAmino: "amino", DHTPrivate: "private"}

func (m DHTMode) String() string {
	if m < 0 || int(m) >= len(dhtModeNames) {
		return fmt.Sprintf("DHTMode(%d)", int(m))
	}
	return dhtModeNames[m]
}

// ParseDHTMode parses "amino", "private" or "off".
func ParseDHTMode(s string) (DHTMode, error) {
	if i := slices.Index(dhtModeNames, s); i >= 0 {
		return DHTMode(i), nil
	}
	return DHTOff, fmt.Errorf("unknown DHT %q: use amino (the public libp2p DHT), private (Loam nodes only) or off", s)
}

// ErrNoDHT is returned by Provide and FindProviders when the Host joins
// no DHT.
var ErrNoDHT = errors.New("p2p: no DHT (Config.DHT is off)")

// dhtOptions configure the DHT for r's mode.
func (r *reach) dhtOptions() []dht.Option {
	opts := []dht.Option{dht.Mode(dht.ModeClient)}
	if r.infra {
		opts[0] = dht.Mode(dht.ModeServer)
		opts = append(opts, dht.ProviderDatastore(newCappedStore(maxProviderRecords)))
	}
	switch {
	case len(r.bootstrap) > 0:
		opts = append(opts, dht.BootstrapPeers(r.bootstrap...))
	case r.mode == DHTAmino:
		opts = append(opts, dht.BootstrapPeers(dht.GetDefaultBootstrapPeerAddrInfos()...))
	}
	if r.mode == DHTPrivate {
		opts = append(opts, dht.ProtocolPrefix(PrivateDHTPrefix))
	}
	if f := r.onDHTRequest; f != nil {
		opts = append(opts, dht.OnRequestHook(func(_ context.Context, s network.Stream, m *dhtpb.Message) {
			f(dhtRequestOf(s.Conn().RemotePeer(), m))
		}))
	}
	return opts
}

// DHTRequest is one request a DHT server received: everything a
// bootstrap node (or any DHT server) learns from the peers that use it.
// Config.OnDHTRequest sees each one; tests check with it that no space ID
// ever reaches the DHT, and a bootstrap node can count them.
type DHTRequest struct {
	// Type is the Kademlia message type: "ADD_PROVIDER", "GET_PROVIDERS",
	// "FIND_NODE", "GET_VALUE", "PUT_VALUE" or "PING".
	Type string
	// Key is the key provided or looked up: for providers, the multihash
	// of the CID (Host.Provide and FindProviders use the SHA-256 of the
	// caller's key); for FIND_NODE, a peer ID or a key whose closest
	// peers are wanted.
	Key []byte
	// From is the sender's libp2p peer ID, in text.
	From string
	// Message is the whole request, protobuf-encoded again after
	// decoding: what the server knows of it, byte for byte.
	Message []byte
}

// dhtRequestOf describes m, received from p.
func dhtRequestOf(p peer.ID, m *dhtpb.Message) DHTRequest {
	raw, err := proto.Marshal(m)
	if err != nil {
		raw = nil // cannot happen: m was just decoded
	}
	return DHTRequest{
		Type:    m.GetType().String(),
		Key:     slices.Clone(m.GetKey()),
		From:    p.String(),
		Message: raw,
	}
}

// keyCID is the DHT key under which key is provided: the SHA-256 of key,
// as a raw CID. Callers pass an already public name (a space's discovery
// ID), never a secret.
func keyCID(key []byte) (cid.Cid, error) {
	h, err := mh.Sum(key, mh.SHA2_256, -1)
	if err != nil {
		return cid.Undef, err
	}
	return cid.NewCidV1(cid.Raw, h), nil
}

// Provide announces in the DHT that this Host provides key. Provider
// records expire after a day or so; announce again every few hours.
func (h *Host) Provide(ctx context.Context, key []byte) error {
	if h.reach.dht == nil {
		return ErrNoDHT
	}
	c, err := keyCID(key)
	if err != nil {
		return fmt.Errorf("p2p: provide: %w", err)
	}
	if err := h.reach.dht.Provide(ctx, c, true); err != nil {
		return fmt.Errorf("p2p: provide: %w", err)
	}
	return nil
}

// FindProviders returns up to max peers that provide key, with the
// addresses the DHT gave for them; the Host itself is left out. It
// returns what it found when ctx ends.
func (h *Host) FindProviders(ctx context.Context, key []byte, max int) ([]PeerInfo, error) {
	if h.reach.dht == nil {
		return nil, ErrNoDHT
	}
	c, err := keyCID(key)
	if err != nil {
		return nil, fmt.Errorf("p2p: find providers: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var out []PeerInfo
	for info := range h.reach.dht.FindProvidersAsync(ctx, c, max+1) {
		if p, ok := h.peerInfoOf(info); ok {
			out = append(out, p)
			if len(out) == max {
				break
			}
		}
	}
	return out, nil
}

// peerInfoOf converts a DHT result, leaving out the Host and non-Loam
// peers.
func (h *Host) peerInfoOf(info peer.AddrInfo) (PeerInfo, bool) {
	a, err := authorOf(info.ID)
	if err != nil || a == h.self {
		return PeerInfo{}, false
	}
	p := PeerInfo{ID: a}
	for _, m := range info.Addrs {
		p.Addrs = append(p.Addrs, m.String())
	}
	slices.Sort(p.Addrs)
	p.Addrs = slices.Compact(p.Addrs)
	return p, true
}
