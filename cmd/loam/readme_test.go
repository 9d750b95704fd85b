package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmeUsingIt runs the README's first example ("Using it") as
// written, with bash, on the loam built for the tests (its go install
// line aside), in a fresh home: each command must succeed, the tool and
// the message must be written under the apps' layouts, and the key the
// README used before (tools/drill) must be refused by the rules it
// declares.
func TestReadmeUsingIt(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"bash", "jq", "date"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the README's example needs %s: %v", tool, err)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "## Using it\n")
	if !ok {
		t.Fatal(`README.md has no "## Using it" section`)
	}
	_, block, ok := strings.Cut(after, "```sh\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal(`README.md's "Using it" has no sh block`)
	}
	script := strings.Replace(block, "go install ./cmd/loam\n", "", 1)
	script += `loam ls garden-club --prefix chat/msg/general/ --json | jq -e 'length == 1' >/dev/null
loam ls garden-club --prefix tools/item/ --json | jq -e '.[0].value | fromjson | .name == "Cordless drill"' >/dev/null
if loam put garden-club tools/drill "cordless, 18V" 2>/dev/null; then echo "tools/drill was written" >&2; exit 1; fi
`
	dir := t.TempDir()
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LOAM_HOME="+filepath.Join(dir, "home"), "PATH="+filepath.Dir(loamBin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the README's example fails: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "garden-club.jsonl")); err != nil {
		t.Fatalf("loam export wrote nothing: %v", err)
	}
}
