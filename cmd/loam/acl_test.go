package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loamdb/loam"
	"github.com/loamdb/loam/internal/api"
)

// TestMembersRevokeAndSecretCLI: a one-use read invite, the read-only
// member's write refused locally naming the role, members in text and
// JSON, revoking a member and an invite, and the space secret leaving
// the home and coming back.
func TestMembersRevokeAndSecretCLI(t *testing.T) {
	t.Parallel()
	a, b := newHome(t), newHome(t)
	startDaemon(t, a, loopbackDaemon...)
	a.ok("", "space", "create", "garden")
	ticket := strings.TrimSpace(a.ok("", "invite", "garden", "--role", "read", "--uses", "1", "--expires", "1h"))
	b.ok("", "join", ticket)
	var ast api.Status
	a.okJSON(&ast, "status", "--json")
	var ms []loam.Member
	a.okJSON(&ms, "members", "garden", "--json")
	var bAuthor string
	roles := map[string]loam.Role{}
	for _, m := range ms {
		roles[m.Author] = m.Role
		if !m.Invite && m.Author != ast.Author {
			bAuthor = m.Author
		}
	}
	if roles[bAuthor] != loam.Read || roles[ast.Author] != loam.Admin || len(ms) != 3 {
		t.Fatalf("members: %+v", ms)
	}
	line := b.fail(1, "", "put", "garden", "k", "v")
	for _, want := range []string{bAuthor, "has role read", "needs write", "loam invite --role write"} {
		if !strings.Contains(line, want) {
			t.Errorf("read-only put: %q lacks %q", line, want)
		}
	}

	if out := a.ok("", "members", "garden"); !strings.Contains(out, "(invite 1/1)") || !strings.Contains(out, "MEMBER") {
		t.Errorf("members table:\n%s", out)
	}

	if line := a.fail(1, "", "revoke", "garden", "aut_"+strings.Repeat("b", 51)+"a"); !strings.Contains(line, "holds no grant") {
		t.Errorf("revoke a stranger: %q", line)
	}
	if out := a.ok("", "revoke", "garden", ticket); !strings.Contains(out, "revoked invite") || !strings.Contains(out, "after 1 joins") {
		t.Errorf("revoke the invite: %q", out)
	}
	var rv loam.Revoked
	if err := json.Unmarshal([]byte(a.ok("", "revoke", "garden", bAuthor, "--json")), &rv); err != nil || rv.Author != bAuthor || rv.LastSeq != 1 {
		t.Errorf("revoke b: %+v %v", rv, err)
	}
	a.okJSON(&ms, "members", "garden", "--json")
	for _, m := range ms {
		if m.Author == bAuthor && (m.Revoked == nil || m.Role != "") {
			t.Errorf("b after revoke: %+v", m)
		}
	}

	secret := strings.TrimSpace(a.ok("", "space", "export-secret", "garden", "--remove"))
	if !strings.HasPrefix(secret, "spcsec_") {
		t.Fatalf("export-secret: %q", secret)
	}
	if line := a.fail(1, "", "space", "export-secret", "garden"); !strings.Contains(line, "import it with loam space import-secret") {
		t.Errorf("export-secret after --remove: %q", line)
	}
	f := filepath.Join(t.TempDir(), "garden.spcsec")
	if err := os.WriteFile(f, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a.ok("", "space", "import-secret", "garden", "-f", f)
	if got := strings.TrimSpace(a.ok("", "space", "export-secret", "garden")); got != secret {
		t.Errorf("export after import: %q", got)
	}
}
