// Package node is one running Loam node: it owns the store, the write paths
// of its spaces, the p2p host and one sync session per connected peer, and
// every goroutine among them.
//
// Commits reach the store from local writes and from sessions; after each
// durable group commit the store calls the node's event hook on its applier
// goroutine, which publishes visible changes to watchers, tells each space's
// write path what arrived (its next commit depends on it), and marks the
// space dirty in every session that shares it, so the session sends what its
// peer lacks. That is the whole live path: nothing polls.
//
// Between two connected peers exactly one sync stream runs: the peer with
// the smaller ID opens it. A peer whose session ends with a misbehaviour
// error is disconnected and blocked, for a time that doubles with each
// offence. Sync streams run over direct connections, and over a relayed
// one only when hole punching has failed RelayAfter times
// (p2p.Host.UseRelay): a symmetric NAT on one side defeats it. The node
// keeps trying to upgrade, reconnects through the relay when the relay
// resets the connection at its limits, and sync moves to the direct
// connection when one appears.
//
// With a DHT (Options.DHT), the node announces each held space under its
// discovery ID, looks up the other holders, connects to them (through a
// relay if need be) and keeps trying to upgrade relayed connections to
// direct ones (discovery.go).
package node
