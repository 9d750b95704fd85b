package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/identity"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/node"
)

// TestDeviceCLI: 'loam device ls' lists this device and a second one of
// the person certified in garden (its certificate carried there by this
// device, as a sibling may); 'loam device revoke' refuses this device and
// an unknown name, then revokes the phone in garden without asking (no
// terminal); ls shows it revoked. Help and --json of both.
func TestDeviceCLI(t *testing.T) {
	t.Parallel()
	h := gardenHome(t)
	var created struct {
		Phrase string                  `json:"phrase"`
		Device struct{ Author string } `json:"device"`
	}
	h.okJSON(&created, "id", "create", "--name", "Ana", "--device", "laptop", "--json")
	p, err := identity.ParsePhrase(created.Phrase)
	if err != nil {
		t.Fatal(err)
	}

	// The phone's certificate, carried into garden by the laptop.
	phone := keys.DeviceKeyFromSeed([32]byte{42})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	func() {
		n, err := node.Open(ctx, node.Options{Home: h.dir, Offline: true})
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		ct, err := identity.NewCert(p.Key(), phone, "phone", uint64(time.Now().UnixMicro()))
		if err != nil {
			t.Fatal(err)
		}
		sp, err := n.Space(ctx, "garden")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sp.Commit(ctx, []commit.Op{commit.CertOp(ct.Encode())}); err != nil {
			t.Fatal(err)
		}
	}()

	type device struct {
		Author, Name string
		This         bool
		Spaces       int
		Revoked      *struct{ Spaces, Pending int }
	}
	var ds []device
	h.okJSON(&ds, "device", "ls", "--json")
	if len(ds) != 2 || !ds[0].This || ds[0].Name != "laptop" || ds[0].Author != created.Device.Author || ds[1].Name != "phone" || ds[1].Author != phone.Author().String() || ds[1].Spaces != 1 || ds[1].Revoked != nil {
		t.Fatalf("device ls --json: %+v", ds)
	}
	text := h.ok("", "device", "ls")
	for _, want := range []string{"NAME", "LAST SEEN", "* laptop", "this device", "phone", phone.Author().String(), "active, in 1 space"} {
		if !strings.Contains(text, want) {
			t.Errorf("device ls lacks %q:\n%s", want, text)
		}
	}
	if line := h.fail(1, "", "device", "revoke", "laptop"); !strings.Contains(line, "is this device") || !strings.Contains(line, "loam id recover") {
		t.Errorf("revoking this device: %s", line)
	}
	if line := h.fail(1, "", "device", "revoke", "tablet"); !strings.Contains(line, `no device is named "tablet"`) || !strings.Contains(line, `"phone"`) {
		t.Errorf("revoking an unknown device: %s", line)
	}
	var rv struct {
		Author  string
		Name    string
		Written int
	}
	h.okJSON(&rv, "device", "revoke", "phone", "--json")
	if rv.Author != phone.Author().String() || rv.Name != "phone" || rv.Written != 1 {
		t.Fatalf("device revoke --json: %+v", rv)
	}
	if out := h.ok("", "device", "revoke", "phone", "--yes"); !strings.Contains(out, "written in 0 spaces") {
		t.Errorf("revoking again: %s", out)
	}
	h.okJSON(&ds, "device", "ls", "--json")
	if ds[1].Revoked == nil || ds[1].Revoked.Spaces != 1 {
		t.Fatalf("after the revocation: %+v", ds)
	}
	if text := h.ok("", "device", "ls"); !strings.Contains(text, "revoked") {
		t.Errorf("device ls after the revocation:\n%s", text)
	}
	for _, args := range [][]string{{"device", "--help"}, {"device", "ls", "--help"}, {"device", "revoke", "--help"}} {
		if out := h.ok("", args...); !strings.Contains(out, "Example") && !strings.Contains(out, "Examples") {
			t.Errorf("%v: no example:\n%s", args, out)
		}
	}
	var arr []any
	if err := json.Unmarshal([]byte(h.ok("", "device", "ls", "--json")), &arr); err != nil || len(arr) != 2 {
		t.Errorf("device ls --json is not a JSON array: %v", err)
	}
}
