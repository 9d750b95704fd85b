package archtest

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// cmdImports lists the only internal packages the code of cmd/loam may
// import, each with what it wires (docs/design.md, "cmd/loam uses the
// library"). Data goes through the root package (loam.Open, loam.Connect),
// so that no data operation is written twice; its test files may import
// more, to set up what they check.
var cmdImports = map[string]string{
	"internal/api":     "the daemon's HTTP server (api.Serve) and daemon.json; the JSON shapes --json prints (one shape per concept, the API's); the client of the daemon-only views (peers, status, doctor, ui)",
	"internal/node":    "the node the daemon and the web demo serve, with the daemon's options",
	"internal/ui":      "the web UI's files, served by the daemon",
	"internal/p2p":     "the daemon's and the bootstrap node's network flags (DHT mode, relay limits), and the bootstrap node's libp2p host",
	"internal/keys":    "the bootstrap node's device key, the home's key file, and tickets parsed before a join (seed refuses one with read keys)",
	"internal/version": "loam version and --version",
}

// cmdImportProblem returns why cmd/loam's code must not import imp, or ""
// if it may.
func cmdImportProblem(imp string) string {
	to, inProject := relPath(imp)
	if !inProject || !strings.HasPrefix(to, "internal/") {
		return ""
	}
	if _, ok := cmdImports[to]; ok {
		return ""
	}
	return fmt.Sprintf("cmd/loam imports %s, but its code may import only %s of internal/ (what wiring needs): "+
		"do data through the root package (loam.Open, loam.Connect), adding what it lacks there, "+
		"or list the package in cmdImports (internal/archtest/cmd_test.go) and docs/design.md with what it wires",
		to, strings.Join(slices.Sorted(maps.Keys(cmdImports)), ", "))
}

func TestCmdLoamImports(t *testing.T) {
	found := false
	for _, p := range packages(t) {
		if p.rel() != "cmd/loam" {
			continue
		}
		found = true
		for _, imp := range p.Imports {
			if msg := cmdImportProblem(imp); msg != "" {
				t.Errorf("%s: %s", p.importSite(imp), msg)
			}
		}
	}
	if !found {
		t.Fatal("go list found no cmd/loam")
	}
	for to := range cmdImports {
		if _, ok := rankOf(to); !ok {
			t.Errorf("cmdImports: %s is not in the rank table", to)
		}
	}
}

// TestCmdImportRule: the rule refuses what is not wiring and lets the rest
// through.
func TestCmdImportRule(t *testing.T) {
	for imp, refused := range map[string]bool{
		module + "/internal/store":  true,
		module + "/internal/commit": true,
		module + "/internal/blob":   true,
		module + "/internal/api":    false,
		module:                      false, // the library
		"github.com/spf13/cobra":    false,
	} {
		if got := cmdImportProblem(imp) != ""; got != refused {
			t.Errorf("cmdImportProblem(%q) refuses: %v, want %v", imp, got, refused)
		}
	}
}
