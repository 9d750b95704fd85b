package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/loamdb/loam/internal/api"
)

// TestCompactAndDiskStatus: loam compact works on the store and through
// the daemon, printing the usage before and after; loam status shows what
// each space takes on disk, in text and JSON, through the daemon and
// (exiting 1, saying to start a daemon) without one.
func TestCompactAndDiskStatus(t *testing.T) {
	t.Parallel()
	h := gardenHome(t)
	var in strings.Builder
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		v := make([]byte, 100)
		for j := range v {
			v[j] = byte(r.Uint32())
		}
		fmt.Fprintf(&in, `{"key":"k%03d","value":"%x"}`+"\n", i, v) // 200 bytes that do not compress much
	}
	h.ok(in.String(), "import", "garden")
	out := h.ok("", "compact", "garden")
	if !strings.Contains(out, "before  ") || !strings.Contains(out, "after   ") || !strings.Contains(out, "garden  live ") {
		t.Fatalf("compact (embedded):\n%s", out)
	}
	var res struct{ Before, After api.DiskUsage }
	h.okJSON(&res, "compact", "--json")
	if len(res.After.Spaces) != 1 || res.After.Spaces[0].Live < 300*100 || res.After.Spaces[0].History < 300*100 || res.After.Unflushed != 0 {
		t.Fatalf("compact --json: %+v", res)
	}
	// Without a daemon, status shows what the store takes and exits 1.
	if r := h.run("", "status"); r.code != 1 || !strings.Contains(r.stdout, "garden  spc_") || !strings.Contains(r.stdout, "  disk: live ") ||
		!strings.Contains(r.stderr, "no daemon runs") {
		t.Errorf("status without a daemon: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	var embedded struct{ Disk api.DiskUsage }
	if r := h.run("", "status", "--json"); r.code != 1 || json.Unmarshal([]byte(r.stdout), &embedded) != nil || len(embedded.Disk.Spaces) != 1 || embedded.Disk.Spaces[0].Live == 0 {
		t.Errorf("status --json without a daemon: exit %d, stdout %q", r.code, r.stdout)
	}

	startDaemon(t, h, loopbackDaemon...)
	var st api.Status
	h.okJSON(&st, "status", "--json")
	if len(st.Spaces) != 1 || st.Spaces[0].Bytes.Live < 300*100 || st.Disk == nil || st.Disk.Total < st.Disk.Tables || len(st.Disk.Spaces) != 1 {
		t.Fatalf("status --json: %+v", st)
	}
	if out := h.ok("", "status"); !strings.Contains(out, "  disk: live ") || !strings.Contains(out, "disk     ") {
		t.Errorf("status:\n%s", out)
	}
	if out := h.ok("", "compact"); !strings.Contains(out, "after   ") {
		t.Errorf("compact (daemon):\n%s", out)
	}
	if line := h.fail(1, "", "compact", "nosuch"); !strings.Contains(line, "nosuch") {
		t.Errorf("compact of an unknown space: %q", line)
	}
}
