package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loamdb/loam"
	"github.com/loamdb/loam/internal/api"
)

// TestSpaceRulesCLI: an admin declares the shipped apps' rules and one
// from a file, and lists them in text and JSON; a member who is not an
// admin gets the acl's refusal naming admin; the member's message under
// the admin's name is refused naming the rule, its own is written.
func TestSpaceRulesCLI(t *testing.T) {
	t.Parallel()
	a, b := newHome(t), newHome(t)
	startDaemon(t, a, loopbackDaemon...)
	a.ok("", "space", "create", "garden")
	if out := a.ok("", "space", "rules", "garden"); !strings.Contains(out, "no app rules") || !strings.Contains(out, "--app chat,tools,profile") {
		t.Errorf("rules of a new space: %q", out)
	}
	out := a.ok("", "space", "rules", "garden", "--app", "chat,tools", "--app", "profile")
	for _, want := range []string{"declared app chat, version 1", `closed prefix "chat/"`, "declared app tools, version 1", "declared app profile, version 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("declaring the shipped rules: %q lacks %q", out, want)
		}
	}
	file := filepath.Join(t.TempDir(), "board.json")
	if err := os.WriteFile(file, []byte(`{"app":"board","body":{"prefix":"board/","rules":[{"key":"board/offer/{ms}-{author}","write":"named","value":{"type":"object","required":["text"]}}]}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var declared api.RulesList
	a.okJSON(&declared, "space", "rules", "garden", file, "--json")
	if len(declared.Apps) != 1 || declared.Apps[0].App != "board" || declared.Apps[0].Version != 1 {
		t.Errorf("declaring from a file: %+v", declared)
	}
	var in api.RulesList
	a.okJSON(&in, "space", "rules", "garden", "--json")
	var names []string
	for _, r := range in.Apps {
		names = append(names, r.App)
	}
	if strings.Join(names, ",") != "board,chat,profile,tools" {
		t.Errorf("rules in force: %v", names)
	}
	if out := a.ok("", "space", "rules", "garden", "--app", "chat,tools"); !strings.Contains(out, "app chat, version 1 is in force already") || !strings.Contains(out, "app tools, version 1 is in force already") {
		t.Errorf("declaring chat and tools v1 again: %q, want: in force already (exit 0)", out)
	}
	other := filepath.Join(t.TempDir(), "chat.json")
	if err := os.WriteFile(other, []byte(`{"app":"chat","version":1,"body":{"prefix":"chat/","rules":[]}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if line := a.fail(1, "", "space", "rules", "garden", other); !strings.Contains(line, "version 1 of app \"chat\" is in force") || !strings.Contains(line, "declare version 2 or later") {
		t.Errorf("declaring other rules as chat v1: %q", line)
	}
	if line := a.fail(2, "", "space", "rules", "garden", "--app", "fridge"); !strings.Contains(line, "chat, tools, profile, board, energy") {
		t.Errorf("--app fridge: %q", line)
	}

	ticket := strings.TrimSpace(a.ok("", "invite", "garden", "--role", "write", "--expires", "1h"))
	b.ok("", "join", ticket)
	if line := b.fail(1, "", "space", "rules", "garden", "--app", "energy"); !strings.Contains(line, "declaring the rules of app") || !strings.Contains(line, "needs admin") {
		t.Errorf("a writer declaring rules: %q", line)
	}
	var ast api.Status
	a.okJSON(&ast, "status", "--json")
	var ms []loam.Member
	a.okJSON(&ms, "members", "garden", "--json")
	var bAuthor string
	for _, m := range ms {
		if !m.Invite && m.Author != ast.Author {
			bAuthor = m.Author
		}
	}
	line := b.fail(1, "", "put", "garden", "chat/msg/general/1795275122119-"+ast.Author, `{"text":"I am the admin"}`)
	for _, want := range []string{"not written", `rule "chat/msg/{channel}/{ms}-{author}"`, "names author " + ast.Author, "use your own author ID", "loam space rules garden"} {
		if !strings.Contains(line, want) {
			t.Errorf("a message under the admin's name: %q lacks %q", line, want)
		}
	}
	b.ok("", "put", "garden", "chat/msg/general/1795275122119-"+bAuthor, `{"text":"hello"}`)
	if line := b.fail(1, "", "put", "garden", "board/offer/1795275122119-"+bAuthor, `{"txt":"bikes"}`); !strings.Contains(line, `app "board"`) || !strings.Contains(line, "text") {
		t.Errorf("an offer off its schema: %q", line)
	}
}

// rulesInForce waits until the rules of apps are in force in space on h.
func rulesInForce(t *testing.T, h *home, space string, apps ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var in api.RulesList
		h.okJSON(&in, "space", "rules", space, "--json")
		have := map[string]bool{}
		for _, r := range in.Apps {
			have[r.App] = true
		}
		missing := slices.DeleteFunc(slices.Clone(apps), func(a string) bool { return have[a] })
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rules of %v are not in force in %s on %s after 30 s: %+v", missing, space, h.dir, in)
		}
		time.Sleep(100 * time.Millisecond) // re-check interval
	}
}
