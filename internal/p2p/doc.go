// Package p2p is Loam's networking layer: the only package of the project
// that imports go-libp2p (and multiaddr). Everything above it sees peers as
// keys.AuthorID and addresses as multiaddr strings.
//
// # What it owns
//
// A Host owns one go-libp2p host and everything hung on it:
//
//   - transports TCP and QUIC; security TLS (offered first) and Noise; the
//     yamux stream multiplexer;
//   - the resource manager, always on, with explicit per-peer caps on
//     connections, streams and memory (limits.go), and a connection manager
//     with low/high water marks;
//   - a connection gater that refuses non-Ed25519 peers and peers backed off
//     with Block;
//   - the peer table behind Peers (per-peer byte counters, last seen);
//   - mDNS discovery on the LAN when Config.MDNS is set.
//
// NAT port mapping is off unless Config.NATPortMap is set.
//
// # Beyond the LAN
//
// With Config.DHT a Host joins a Kademlia DHT (dht.go): Amino, the public
// libp2p DHT, in client mode, or a private one of Loam nodes. Provide and
// FindProviders announce and look up opaque keys (Loam passes a space's
// discovery ID, never the space ID). Every Host runs AutoNAT v2 and the
// Circuit Relay v2 client; one that is not infrastructure also runs DCUtR
// hole punching and reserves slots on its bootstrap nodes as static
// relays once AutoNAT finds it private (reach.go); every Host stays
// connected to its bootstrap nodes, with or without a DHT. A relayed
// connection is limited: Notify does not report it, and it carries no Loam
// stream until Upgrade (or the peer's own DCUtR attempt) replaces it by a
// direct one, or UseRelay lets streams go through the relay (relay.go:
// when hole punching cannot work); NotifyRelayed reports it. The Host
// also tells how its router maps ports (natmap.go).
// A Host with Config.Infrastructure is a community bootstrap node: DHT
// server, relay service with RelayLimit per relayed connection, AutoNAT
// service. Config.RelayService runs the relay service alone.
// The zero Config joins no DHT and dials no bootstrap peer: tests stay off
// the internet.
//
// # Identity
//
// A node's libp2p identity is its device key: the peer ID ("12D3Koo…") is
// derived from the Ed25519 public key, which is the keys.AuthorID of the
// device. Peers whose identity is not an Ed25519 key are refused at the
// handshake, so every peer a Host talks to has an AuthorID. PeerIDString and
// ParsePeerID convert between the two text forms.
//
// # Concurrency
//
// Every method of Host is safe for concurrent use. Callbacks never run while
// this package holds a lock, and none runs after Close returns:
//
//   - Notify callbacks run one at a time, in order, on the Host's single
//     event goroutine; for each peer, connected and disconnected alternate,
//     starting with connected. They must not block: the goroutine also keeps
//     the peer table up to date.
//   - Config.OnPeerFound runs on a goroutine of the mDNS service, possibly
//     concurrently with itself; it must not block.
//   - A stream handler registered with Handle runs on its own goroutine per
//     incoming stream and owns the stream: it must Close or Reset it. Close
//     resets every open stream and then waits for running handlers to
//     return, so a handler must return once its stream fails.
//
// Close must not be called from a callback or a handler: it waits for them.
package p2p
