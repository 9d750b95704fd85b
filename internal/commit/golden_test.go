package commit_test

import (
	"bytes"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

// update rewrites the golden files: go test ./internal/commit -run Golden -update
var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// Pinned commit IDs of the golden commits. They change only if the format
// changes; when they do, the change is a new format version, not a fix.
const (
	goldenGenesisID = "cmt_5afhh5eccx6vdgdjsl7xe3vwdx3i2cdmjkfwiybi7d6arp2duh3q"
	goldenPutDelID  = "cmt_xp6w6w3gabxatbkni7i7s7l4mlmbbtjyxbenu4yd4gpvcmvvffyq"
	// Erasure keeps the header, hence the ID.
	goldenErasedID = goldenPutDelID

	goldenPutDelOpsRoot = "bad5af2392cc4b9ed002ab72d44fede38f2494785913cecc4ba3f2a7a8646c13"
)

func fill(b byte) [32]byte { return [32]byte(bytes.Repeat([]byte{b}, 32)) }

// Fixed keys of the golden commits.
var (
	goldenSpaceKey  = keys.SpaceKeyFromSeed(fill(0x01))
	goldenDeviceKey = keys.DeviceKeyFromSeed(fill(0x02))
)

// goldenGenesis is commit (a): seq 1 of the space key itself, granting admin
// to the device.
func goldenGenesis(t testing.TB) *commit.Commit {
	t.Helper()
	return mustBuild(t, commit.Header{
		Space:  goldenSpaceKey.Space(),
		Author: goldenSpaceKey.Author(),
		Seq:    1,
		Time:   commit.HLC{Wall: 1_700_000_000_000_000, Logical: 0},
	}, goldenSpaceKey, commit.GrantOp(commit.Grant{Subject: goldenDeviceKey.Author(), Role: commit.RoleAdmin}))
}

// mustBuild is commit.Build, failing t on an error.
func mustBuild(t testing.TB, h commit.Header, s commit.Signer, ops ...commit.Op) *commit.Commit {
	t.Helper()
	c, err := commit.Build(h, ops, s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// goldenPutDel is commit (b): seq 2 of the device, with a prev, two deps
// (given unsorted; Build sorts them) and a put and a del.
func goldenPutDel(t testing.TB) *commit.Commit {
	t.Helper()
	return mustBuild(t, commit.Header{
		Space:  goldenSpaceKey.Space(),
		Author: goldenDeviceKey.Author(),
		Seq:    2,
		Prev:   keys.CommitID(fill(0x11)),
		Time:   commit.HLC{Wall: 1_700_000_000_123_456, Logical: 7},
		Deps:   []keys.CommitID{keys.CommitID(fill(0x33)), keys.CommitID(fill(0x22))},
	}, goldenDeviceKey, commit.Put([]byte("tools/drill"), []byte("cordless")), commit.Del([]byte("tools/saw")))
}

// goldenErased is commit (c): (b) with the payload of op 0 erased.
func goldenErased(t testing.TB) *commit.Commit {
	t.Helper()
	c, err := goldenPutDel(t).Erase(0)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// formatHex renders b as lowercase hex, 32 bytes a line.
func formatHex(b []byte) string {
	var sb strings.Builder
	h := hex.EncodeToString(b)
	for len(h) > 64 {
		sb.WriteString(h[:64])
		sb.WriteByte('\n')
		h = h[64:]
	}
	sb.WriteString(h)
	sb.WriteByte('\n')
	return sb.String()
}

// parseHex reads a golden file: hex digits, whitespace ignored.
func parseHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatalf("golden file is not hex: %v", err)
	}
	return b
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".hex")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(formatHex(got)), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/commit -run Golden -update to create it)", err)
	}
	want := parseHex(t, string(text))
	if !bytes.Equal(got, want) {
		t.Errorf("%s: encoding changed.\ngot:\n%swant:\n%s", path, formatHex(got), formatHex(want))
	}
}

func TestGoldenCommits(t *testing.T) {
	cases := []struct {
		name   string
		build  func(testing.TB) *commit.Commit
		wantID string
	}{
		{"genesis", goldenGenesis, goldenGenesisID},
		{"put-del", goldenPutDel, goldenPutDelID},
		{"put-del-erased", goldenErased, goldenErasedID},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.build(t)
			checkGolden(t, tc.name, c.Bytes())
			if got := c.ID.String(); got != tc.wantID {
				t.Errorf("ID = %s, want %s", got, tc.wantID)
			}
			// Building twice gives the same bytes: Ed25519 is deterministic
			// and the encoding canonical.
			if again := tc.build(t); !bytes.Equal(again.Bytes(), c.Bytes()) {
				t.Error("building the same commit twice gave different bytes")
			}
			// The stored golden bytes verify and decode to the pinned ID.
			raw := c.Bytes()
			if !*update {
				text, err := os.ReadFile(filepath.Join("testdata", "golden", tc.name+".hex"))
				if err != nil {
					t.Fatal(err)
				}
				raw = parseHex(t, string(text))
			}
			got, err := commit.Verify(raw)
			if err != nil {
				t.Fatalf("golden commit does not verify: %v", err)
			}
			if got.ID.String() != tc.wantID {
				t.Errorf("decoded ID = %s, want %s", got.ID, tc.wantID)
			}
			if !bytes.Equal(got.Bytes(), raw) || !bytes.Equal(got.HeaderBytes(), c.HeaderBytes()) {
				t.Error("decoded commit does not keep the bytes it was decoded from")
			}
		})
	}
}

func TestGoldenFields(t *testing.T) {
	b := goldenPutDel(t)
	if got := hex.EncodeToString(b.OpsRoot[:]); got != goldenPutDelOpsRoot {
		t.Errorf("ops root = %s, want %s", got, goldenPutDelOpsRoot)
	}
	if len(b.Deps) != 2 || b.Deps[0] != keys.CommitID(fill(0x22)) || b.Deps[1] != keys.CommitID(fill(0x33)) {
		t.Errorf("deps not sorted: %v", b.Deps)
	}
	if b.NumOps != 2 {
		t.Errorf("op count = %d, want 2", b.NumOps)
	}

	e := goldenErased(t)
	if e.ID != b.ID || e.Sig != b.Sig || !bytes.Equal(e.HeaderBytes(), b.HeaderBytes()) {
		t.Error("erasure changed the header, ID or signature")
	}
	if !e.Ops[0].Erased || e.Ops[0].Payload != nil || e.Ops[0].PayloadLen != len("cordless") {
		t.Errorf("op 0 not erased: %+v", e.Ops[0])
	}
	if e.Ops[0].PayloadDigest != keys.PayloadHash.Sum([]byte("cordless")) {
		t.Error("erased op does not keep the payload digest")
	}
	if e.Ops[0].Digest() != b.Ops[0].Digest() {
		t.Error("erasure changed the op digest")
	}
	if bytes.Contains(e.Bytes(), []byte("cordless")) {
		t.Error("erased payload still in the encoding")
	}
	// Erasing twice changes nothing.
	ee, err := e.Erase(0)
	if err != nil || !bytes.Equal(ee.Bytes(), e.Bytes()) {
		t.Errorf("erasing an erased op changed the commit: %v", err)
	}

	g := goldenGenesis(t)
	if g.Author != keys.AuthorID(g.Space) || g.Seq != 1 || !g.Prev.IsZero() {
		t.Errorf("genesis header: %+v", g.Header)
	}
	grant, err := commit.DecodeGrant(g.Ops[0])
	if err != nil || grant.Subject != goldenDeviceKey.Author() || grant.Role != commit.RoleAdmin {
		t.Errorf("genesis grant: %+v, %v", grant, err)
	}
}
