package node

import (
	"bytes"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/p2p"
)

// dhtRecorder keeps every request a DHT server receives.
type dhtRecorder struct {
	mu   sync.Mutex
	reqs []p2p.DHTRequest // guarded by mu
}

func (r *dhtRecorder) record(q p2p.DHTRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, q)
}

func (r *dhtRecorder) requests() []p2p.DHTRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reqs)
}

// has reports whether a request of type typ for key was received.
func (r *dhtRecorder) has(typ string, key []byte) bool {
	return slices.ContainsFunc(r.requests(), func(q p2p.DHTRequest) bool {
		return q.Type == typ && bytes.Equal(q.Key, key)
	})
}

// discoveryKey is the DHT key a space is announced and looked up under,
// computed here independently of internal/p2p: the multihash (sha2-256,
// code 0x12, 32 bytes) of the SHA-256 of the space's discovery ID, which
// is what CID(raw, sha2-256(DiscoveryID)) carries.
func discoveryKey(sp keys.SpaceID) []byte {
	d := keys.DiscoveryID(sp)
	sum := sha256.Sum256(d[:])
	return append([]byte{0x12, 0x20}, sum[:]...)
}

// peerIDBytes is the libp2p peer ID of a, in bytes: the identity
// multihash (0x00, length 36) of the protobuf-encoded Ed25519 public key
// (type 1, 32 bytes).
func peerIDBytes(a keys.AuthorID) []byte {
	return append([]byte{0x00, 0x24, 0x08, 0x01, 0x12, 0x20}, a[:]...)
}

// spaceForms are the byte strings that would betray sp: its bytes and
// every text form of them, and the hashes a careless implementation would
// announce (the SHA-256 of the space ID and its multihash).
func spaceForms(sp keys.SpaceID) map[string][]byte {
	sum := sha256.Sum256(sp[:])
	return map[string][]byte{
		"bytes":              sp[:],
		"String":             []byte(sp.String()),
		"hex":                []byte(hex.EncodeToString(sp[:])),
		"HEX":                []byte(strings.ToUpper(hex.EncodeToString(sp[:]))),
		"base64":             []byte(base64.RawStdEncoding.EncodeToString(sp[:])),
		"base64url":          []byte(base64.RawURLEncoding.EncodeToString(sp[:])),
		"base32":             []byte(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sp[:])),
		"base32 lower":       []byte(strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sp[:]))),
		"sha256":             sum[:],
		"sha256 multihash":   append([]byte{0x12, 0x20}, sum[:]...),
		"first half (bytes)": sp[:len(sp)/2],
	}
}

// TestDHTSeesOnlyDiscoveryIDs: the DHT only ever sees discovery IDs,
// never a space ID. A bootstrap node (the only DHT server of a private
// DHT, so every DHT request of the nodes reaches it) records every request
// it receives, at the protocol level, while two real nodes hold four
// spaces between them and one joins a space of the other through the DHT
// (its ticket stripped of addresses). Every ADD_PROVIDER and GET_PROVIDERS
// must be for the DHT key of a held space's discovery ID, and no request
// of any type may contain a space ID in any form, nor a space's name.
func TestDHTSeesOnlyDiscoveryIDs(t *testing.T) {
	ctx := ctxT(t)
	rec := &dhtRecorder{}
	boot := bootHost(t, rec.record)
	bootAddr := loopbackTCP(boot.Addrs())
	a, b := openFinder(t, t.TempDir(), bootAddr), openFinder(t, t.TempDir(), bootAddr)

	names := []string{"garden", "workshop", "recipes", "letters"}
	spaces := map[string]keys.SpaceID{}
	for i, name := range names {
		n := a
		if i == len(names)-1 {
			n = b // b holds a space of its own, besides the one it joins
		}
		sp := newSpace(t, n, name)
		spaces[name] = sp.ID()
		put(t, n, sp.ID(), "notes/"+name, "secret plans for "+name)
	}
	tk := inviteFor(t, a, "garden", commit.RoleWrite, time.Hour)
	tk.Addrs = nil // only the DHT can tell b where a is
	joinWith(t, b, tk)
	waitFor(t, 30*time.Second, "a's write in garden on b", func() bool {
		_, err := b.st.Get(ctx, spaces["garden"], []byte("notes/garden"))
		return err == nil
	})

	// The recording must cover every space announced and looked up (a
	// node looks up the spaces it holds); wait for it, but check what was
	// recorded even if it never does, so that a leak is reported as one.
	covered := func() (missing []string) {
		for name, sp := range spaces {
			key := discoveryKey(sp)
			if !rec.has("ADD_PROVIDER", key) || !rec.has("GET_PROVIDERS", key) {
				missing = append(missing, name)
			}
		}
		return missing
	}
	for deadline := time.Now().Add(30 * time.Second); len(covered()) > 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	defer func() {
		if m := covered(); len(m) > 0 {
			t.Errorf("spaces %v: not both announced and looked up under their discovery key within 30s", m)
		}
	}()

	expected := map[string]string{} // DHT key -> space name
	for name, sp := range spaces {
		expected[string(discoveryKey(sp))] = name
	}
	peerKeys := map[string]bool{} // FIND_NODE keys that are a participant's peer ID
	for _, id := range []keys.AuthorID{a.Author(), b.Author(), boot.ID()} {
		peerKeys[string(peerIDBytes(id))] = true
	}
	reqs := rec.requests()
	counts := map[string]int{}
	var maintenance int // FIND_NODE keys of kad-dht's routing table upkeep
	for _, q := range reqs {
		counts[q.Type]++
		switch q.Type {
		case "ADD_PROVIDER", "GET_PROVIDERS":
			if _, ok := expected[string(q.Key)]; !ok {
				t.Errorf("%s for %x: not the DHT key of a held space's discovery ID", q.Type, q.Key)
			}
		case "FIND_NODE":
			// A lookup walks towards the key first (FIND_NODE for the
			// discovery key); kad-dht also looks up peer IDs (its own,
			// when bootstrapping) and random keys, one per bucket, to
			// refresh its routing table.
			if _, ok := expected[string(q.Key)]; !ok && !peerKeys[string(q.Key)] {
				maintenance++
			}
		case "PING":
		default:
			t.Errorf("unexpected %s request for %x: Loam only provides and looks up providers", q.Type, q.Key)
		}
		if len(q.Message) == 0 {
			t.Errorf("%s for %x: message not recorded", q.Type, q.Key)
		}
		for name, sp := range spaces {
			for form, bs := range spaceForms(sp) {
				if bytes.Contains(q.Key, bs) || bytes.Contains(q.Message, bs) {
					t.Errorf("%s request from %s contains space %s's ID (%s): %x", q.Type, q.From, name, form, q.Message)
				}
			}
			if bytes.Contains(q.Message, []byte(name)) {
				t.Errorf("%s request from %s contains the name of space %s: %x", q.Type, q.From, name, q.Message)
			}
		}
	}
	t.Logf("the bootstrap node received %d DHT requests: %v; %d FIND_NODE for routing-table upkeep (random keys)", len(reqs), counts, maintenance)
	if counts["ADD_PROVIDER"] == 0 || counts["GET_PROVIDERS"] == 0 {
		t.Fatalf("recorded requests %v: the recording missed the announces or lookups", counts)
	}
}
