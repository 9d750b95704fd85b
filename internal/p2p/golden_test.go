package p2p

import (
	"bytes"
	"testing"

	"github.com/loamdb/loam/internal/golden"
	"github.com/loamdb/loam/internal/keys"
)

// TestGoldenDHTKey pins the DHT rendezvous key of a space: the raw CID of
// the SHA-256 of its discovery ID, also in docs/protocol/sync.md (block
// dht.key). The space is that of the sync examples (space key seed 01…).
// A change here strands every node that announces under the old key: it is
// a change of the protocol, never a fix.
func TestGoldenDHTKey(t *testing.T) {
	var seed [32]byte
	for i := range seed {
		seed[i] = 0x01
	}
	disc := keys.DiscoveryID(keys.SpaceKeyFromSeed(seed).Space())
	c, err := keyCID(disc[:])
	if err != nil {
		t.Fatal(err)
	}
	const want = `
01 55 12 20
1674b18d09929134ce582b02c56662e964a970f517abdc82f1b34058485af6ce`
	if !bytes.Equal(c.Bytes(), golden.Hex(want)) {
		t.Errorf("DHT key changed: %s\n%s", c, golden.Dump(c.Bytes()))
	}
	if c.String() != "bafkreiawosyy2cmsse2m4wblalcwmyxjmsuxb5ixvpoif4ntibmeqwxwzy" {
		t.Errorf("DHT key text form changed: %s", c)
	}
	doc := golden.Load(t, "../../docs/protocol/sync.md", "dht")
	doc.Check(t, "dht.key", c.Bytes())
}
