package golden

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// owners maps the prefix of a block ID (up to its first dot) to the test
// that checks the blocks of that prefix. Load makes each such test check
// every block of its prefix; this table makes sure no block has a prefix
// that no test loads, which would leave it unchecked.
var owners = map[string]string{
	"sync":          "internal/reconcile TestGoldenSyncMessages",
	"sync-proof":    "internal/reconcile TestGoldenSyncProofs",
	"sync-frame":    "internal/reconcile TestGoldenSyncFrames",
	"snapshot":      "internal/reconcile TestGoldenSnapMessages",
	"dht":           "internal/p2p TestGoldenDHTKey",
	"commit":        "internal/commit TestGoldenCommitDoc",
	"op":            "internal/commit TestGoldenControlOps",
	"digest":        "internal/commit TestGoldenDigests",
	"ticket":        "internal/keys TestGoldenTickets",
	"identity":      "internal/identity TestGoldenIdentity",
	"blob":          "internal/blob TestGoldenBlobMessages",
	"blob-manifest": "internal/blob TestGoldenBlobIDs",
	"blob-ref":      "internal/blob TestGoldenBlobRefs",
	"blob-frame":    "internal/blob TestGoldenBlobFrames",
}

// TestDocsBlocks parses every golden block of docs/protocol and
// docs/format, and fails on a block whose ID no golden test owns.
func TestDocsBlocks(t *testing.T) {
	var paths []string
	for _, dir := range []string{"../../docs/protocol", "../../docs/format"} {
		m, err := filepath.Glob(filepath.Join(dir, "*.md"))
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, m...)
	}
	if len(paths) == 0 {
		t.Fatal("no documents in docs/protocol and docs/format")
	}
	n := 0
	for _, p := range paths {
		md, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		_, ids, err := Parse(md)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		for _, id := range ids {
			prefix, _, ok := strings.Cut(id, ".")
			if _, owned := owners[prefix]; !ok || !owned {
				t.Errorf("%s: block %s: no golden test checks it; name it PREFIX.NAME with a prefix of internal/golden's owners table, whose test checks it", p, id)
			}
		}
		n += len(ids)
	}
	if n < 50 { // the blocks of issue 11
		t.Errorf("%d golden blocks in the documents; were they turned into plain blocks?", n)
	}
	t.Logf("%d golden blocks in %d documents", n, len(paths))
}
