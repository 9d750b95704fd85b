package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/loamdb/loam"
	"github.com/loamdb/loam/internal/api"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/node"
	"github.com/loamdb/loam/internal/store/storetest"
)

// forkHome makes the device of home sign two commits with one seq in its
// space name, as a device whose key was copied to a second machine would,
// and stores both. It returns the seq and the device's author ID. No
// daemon may run for home.
func forkHome(t *testing.T, home, name string) (uint64, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := node.Open(ctx, node.Options{Home: home, Offline: true})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	dev, err := keys.LoadOrCreateDeviceKey(home)
	if err != nil {
		t.Fatal(err)
	}
	id, err := n.Resolve(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return storetest.Fork(ctx, t, n.Store(), id, dev, "twice"), dev.Author().String()
}

// TestForkShownByCLI: an author that forked shows in 'loam members' (text
// and --json, with and without a daemon) and in 'loam status' (text and
// --json), not only in 'loam log verify'.
func TestForkShownByCLI(t *testing.T) {
	t.Parallel()
	h := gardenHome(t)
	h.ok("", "put", "garden", "a", "1")
	seq, me := forkHome(t, h.dir, "garden")
	atSeq := fmt.Sprintf("at seq %d", seq)

	checkMembers := func(how string) {
		t.Helper()
		if out := h.ok("", "members", "garden"); !strings.Contains(out, "FORKED") || !strings.Contains(out, atSeq) {
			t.Errorf("members %s:\n%s", how, out)
		}
		var ms []loam.Member
		h.okJSON(&ms, "members", "garden", "--json")
		for _, m := range ms {
			if (m.Author == me) != (m.ForkedAt == seq) {
				t.Errorf("members --json %s: %s forked_at %d, want %d for %s only", how, m.Author, m.ForkedAt, seq, me)
			}
		}
	}
	checkMembers("without a daemon")
	startDaemon(t, h, loopbackDaemon...)
	checkMembers("through the daemon")

	if out := h.ok("", "status"); !strings.Contains(out, fmt.Sprintf("forked: %s signed two different commits with seq %d", me, seq)) {
		t.Errorf("status:\n%s", out)
	}
	var st api.Status
	h.okJSON(&st, "status", "--json")
	if f := st.Spaces[0].Forked; len(f) != 1 || f[0].Author != me || f[0].Seq != seq {
		t.Errorf("status --json: forked %+v", f)
	}
}
