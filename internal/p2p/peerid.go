package p2p

import (
	"errors"
	"fmt"
	"slices"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/loamdb/loam/internal/keys"
)

// ErrNotEd25519 is returned for a libp2p peer ID that does not embed an
// Ed25519 public key. Loam peers are identified by their Ed25519 device
// keys, so such a peer cannot be a Loam node.
var ErrNotEd25519 = errors.New("p2p: peer ID is not an Ed25519 key")

// PeerIDString returns the libp2p text form of a's peer ID ("12D3KooW…").
func PeerIDString(a keys.AuthorID) string {
	return peerIDOf(a).String()
}

// ParsePeerID parses a libp2p peer ID (the form PeerIDString produces, or a
// libp2p-key CID) and returns the author ID it embeds. It fails with
// ErrNotEd25519 for peer IDs of other key types.
func ParsePeerID(s string) (keys.AuthorID, error) {
	id, err := peer.Decode(s)
	if err != nil {
		return keys.AuthorID{}, fmt.Errorf("p2p: parse peer ID %q: %w", s, err)
	}
	a, err := authorOf(id)
	if err != nil {
		return keys.AuthorID{}, fmt.Errorf("p2p: parse peer ID %q: %w", s, err)
	}
	return a, nil
}

// peerIDOf returns the libp2p peer ID of an Ed25519 public key.
func peerIDOf(a keys.AuthorID) peer.ID {
	pub, err := crypto.UnmarshalEd25519PublicKey(a[:])
	if err != nil {
		panic("p2p: " + err.Error()) // unreachable: a is always 32 bytes
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		panic("p2p: " + err.Error()) // unreachable: Ed25519 keys always marshal
	}
	return id
}

// authorOf returns the Ed25519 public key embedded in id. It accepts only
// the canonical encoding (the one peerIDOf produces), so each author has
// exactly one peer ID.
func authorOf(id peer.ID) (keys.AuthorID, error) {
	var a keys.AuthorID
	pub, err := id.ExtractPublicKey()
	if err != nil {
		return a, fmt.Errorf("%w: %v", ErrNotEd25519, err)
	}
	if pub.Type() != crypto.Ed25519 {
		return a, fmt.Errorf("%w (key type %s)", ErrNotEd25519, pub.Type())
	}
	raw, err := pub.Raw()
	if err != nil || len(raw) != keys.Size {
		return a, fmt.Errorf("%w: bad key bytes", ErrNotEd25519)
	}
	copy(a[:], raw)
	if peerIDOf(a) != id {
		return keys.AuthorID{}, fmt.Errorf("%w: non-canonical encoding", ErrNotEd25519)
	}
	return a, nil
}

// HasPublicAddr reports whether any of addrs (multiaddrs, as Host.Addrs
// gives them) is a public IP address: one that peers on the internet can
// dial, as a relay service needs.
func HasPublicAddr(addrs []string) bool {
	for _, s := range addrs {
		if a, err := ma.NewMultiaddr(s); err == nil && manet.IsPublicAddr(a) {
			return true
		}
	}
	return false
}

// AddrsByPeer groups multiaddrs ending in /p2p/<peer ID> (as tickets carry
// them) by peer, each peer's kept whole and in the order given; addresses
// without a usable peer ID are left out.
func AddrsByPeer(addrs []string) map[keys.AuthorID][]string {
	out := map[keys.AuthorID][]string{}
	for _, s := range addrs {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			continue
		}
		_, id := peer.SplitAddr(m)
		if id == "" {
			continue
		}
		a, err := authorOf(id)
		if err != nil {
			continue
		}
		out[a] = append(out[a], s)
	}
	return out
}

// RankAddrs returns addrs (multiaddrs, with or without /p2p/) ordered for
// keeping the few most likely to reach a peer later: public addresses,
// then private ones, then loopback, then relayed ones and those that do
// not parse; the order given is kept within each class.
func RankAddrs(addrs []string) []string {
	class := func(s string) int {
		m, err := ma.NewMultiaddr(s)
		switch {
		case err != nil:
			return 4
		case isRelayed(m):
			return 3
		case manet.IsPublicAddr(m):
			return 0
		case manet.IsIPLoopback(m):
			return 2
		}
		return 1
	}
	out := slices.Clone(addrs)
	slices.SortStableFunc(out, func(a, b string) int { return class(a) - class(b) })
	return out
}
