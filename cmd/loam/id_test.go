package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoIdentity: the commands that need an identity, run in a home that
// holds none, exit 1 saying how to create one.
func TestNoIdentity(t *testing.T) {
	t.Parallel()
	h := gardenHome(t)
	for _, args := range [][]string{{"id", "show"}, {"id", "profile"}, {"device", "ls"}} {
		if line := h.fail(1, "", args...); !strings.Contains(line, "loam id create --name NAME") {
			t.Errorf("%s without an identity: %s", strings.Join(args, " "), line)
		}
	}
}

// TestIDCreate: 'loam id create' prints the phrase once with what to do
// with it, keeps the identity (0600), and the device's certificate makes
// it one person in 'loam members'; a second identity is refused.
func TestIDCreate(t *testing.T) {
	t.Parallel()
	h := gardenHome(t)
	out := h.ok("", "id", "create", "--name", "Ana", "--device", "laptop")
	for _, want := range []string{"Created the identity of Ana: idt_", `This device, "laptop", is certified`, " 1. ", "24. ", "Write these 24 words down", "Never\nshare them"} {
		if !strings.Contains(out, want) {
			t.Errorf("id create lacks %q:\n%s", want, out)
		}
	}
	if fi, err := os.Stat(filepath.Join(h.dir, "identity")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("identity file: %v, %v", fi, err)
	}
	var id struct {
		ID       string `json:"id"`
		Name     string `json:"name"`
		HoldsKey bool   `json:"holds_key"`
		Device   struct {
			Author, Name string
		} `json:"device"`
	}
	if err := json.Unmarshal([]byte(h.ok("", "id", "show", "--json")), &id); err != nil || id.Name != "Ana" || !id.HoldsKey || id.Device.Name != "laptop" || !strings.HasPrefix(id.ID, "idt_") {
		t.Fatalf("id show --json: %+v, %v", id, err)
	}
	if !strings.Contains(h.ok("", "id", "show"), id.ID) {
		t.Error("id show does not name the identity")
	}
	var ms []struct {
		Author, Identity, Role string
		Devices                []struct{ Author, Name string }
	}
	if err := json.Unmarshal([]byte(h.ok("", "members", "garden", "--json")), &ms); err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || ms[0].Identity != id.ID || ms[0].Role != "admin" || len(ms[0].Devices) != 1 || ms[0].Devices[0].Name != "laptop" || ms[0].Devices[0].Author != id.Device.Author {
		t.Fatalf("members --json: %+v", ms)
	}
	text := h.ok("", "members", "garden")
	if !strings.Contains(text, "(person, 1 devices)") || !strings.Contains(text, `└ aut_`) || !strings.Contains(text, `"laptop"`) {
		t.Errorf("members:\n%s", text)
	}
	if line := h.fail(1, "", "id", "create", "--name", "Bob"); !strings.Contains(line, "already holds an identity: "+id.ID) {
		t.Errorf("second identity: %s", line)
	}
	other := newHome(t)
	js := other.ok("", "id", "create", "--name", "Bob", "--phrase-only", "--json")
	var created struct {
		Phrase   string `json:"phrase"`
		HoldsKey bool   `json:"holds_key"`
	}
	if err := json.Unmarshal([]byte(js), &created); err != nil || len(strings.Fields(created.Phrase)) != 24 || created.HoldsKey {
		t.Fatalf("id create --json --phrase-only: %s (%v)", js, err)
	}
}
