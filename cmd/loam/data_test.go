package main

import (
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

var verifiedRE = regexp.MustCompile(`(?m)^\s*verified \d+ commits? \(\d+ ops?\) by \d+ authors?; \d+ forks?$`)

func TestInit(t *testing.T) {
	t.Parallel()
	h := &home{t: t, dir: t.TempDir()}
	out := h.ok("", "init")
	if !strings.Contains(out, "created") || !strings.Contains(out, h.dir) || !strings.Contains(out, "aut_") {
		t.Errorf("first init: %q", out)
	}
	var j struct {
		Home, Author string
		Created      bool
	}
	h.okJSON(&j, "init", "--json")
	if j.Created || j.Home != h.dir || !strings.HasPrefix(j.Author, "aut_") || !strings.Contains(out, j.Author) {
		t.Errorf("second init --json: %+v (first said %q)", j, out)
	}
	if out := h.ok("", "init"); !strings.Contains(out, "already exists") {
		t.Errorf("third init: %q", out)
	}
}

func TestSpaceCreateAndList(t *testing.T) {
	t.Parallel()
	h := newHome(t)
	id := h.ok("", "space", "create", "garden-club")
	if !regexp.MustCompile(`^spc_[a-z2-7]+\n$`).MatchString(id) {
		t.Fatalf("space create printed %q, want one ID line", id)
	}
	id = strings.TrimSpace(id)
	var created struct{ ID, Name string }
	h.okJSON(&created, "space", "create", "chat", "--json")
	if created.Name != "chat" || !strings.HasPrefix(created.ID, "spc_") {
		t.Errorf("space create --json: %+v", created)
	}

	if line := h.fail(1, "", "space", "create", "garden-club"); !strings.Contains(line, "already in use") {
		t.Errorf("duplicate name: %q", line)
	}

	out := h.ok("", "space", "ls")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") || !strings.Contains(lines[0], "CREATED") ||
		!strings.HasPrefix(lines[1], "chat ") || !strings.Contains(lines[2], id) {
		t.Errorf("space ls:\n%s", out)
	}
	var spaces []struct{ ID, Name, Created string }
	h.okJSON(&spaces, "space", "ls", "--json")
	if len(spaces) != 2 || spaces[1].Name != "garden-club" || spaces[1].ID != id {
		t.Fatalf("space ls --json: %+v", spaces)
	}
	if _, err := time.Parse(time.RFC3339Nano, spaces[0].Created); err != nil {
		t.Errorf("created: %v", err)
	}
	// The ID works wherever a name does.
	h.ok("", "put", id, "k", "v")
	if got := h.ok("", "get", "garden-club", "k"); got != "v" {
		t.Errorf("get by name after put by ID: %q", got)
	}
}

func TestPutGetDel(t *testing.T) {
	t.Parallel()
	h := gardenHome(t)

	h.ok("", "put", "garden", "arg", "cordless, 18V")
	h.ok("line one\nline two\n", "put", "garden", "stdin", "-")
	file := filepath.Join(t.TempDir(), "value")
	os.WriteFile(file, []byte("from a file"), 0o600)
	h.ok("", "put", "garden", "file", "-f", file)
	h.ok("", "put", "garden", "dash", "--", "-5")
	binary := make([]byte, 256)
	for i := range binary {
		binary[i] = byte(i)
	}
	binFile := filepath.Join(t.TempDir(), "binary")
	os.WriteFile(binFile, binary, 0o600)
	h.ok("", "put", "garden", "binary", "-f", binFile)
	h.ok("", "put", "garden", "empty", "")

	for key, want := range map[string]string{
		"arg": "cordless, 18V", "stdin": "line one\nline two\n", "file": "from a file",
		"dash": "-5", "binary": string(binary), "empty": "",
	} {
		if got := h.ok("", "get", "garden", key); got != want {
			t.Errorf("get %s = %q, want %q", key, got, want)
		}
	}

	var e struct {
		Key, Value, Author, Time string
		ValueB64                 *string `json:"value_b64"`
	}
	h.okJSON(&e, "get", "garden", "binary", "--json")
	if e.Key != "binary" || e.ValueB64 == nil || *e.ValueB64 != base64.StdEncoding.EncodeToString(binary) ||
		!strings.HasPrefix(e.Author, "aut_") {
		t.Errorf("get --json binary: %+v", e)
	}
	if _, err := time.Parse(time.RFC3339Nano, e.Time); err != nil {
		t.Errorf("time: %v", err)
	}
	e = struct {
		Key, Value, Author, Time string
		ValueB64                 *string `json:"value_b64"`
	}{}
	h.okJSON(&e, "get", "garden", "stdin", "--json")
	if e.Value != "line one\nline two\n" || e.ValueB64 != nil {
		t.Errorf("get --json text: %+v", e)
	}

	h.ok("", "del", "garden", "arg")
	if line := h.fail(1, "", "get", "garden", "arg"); !strings.Contains(line, "not found") {
		t.Errorf("get after del: %q", line)
	}
	h.fail(1, "", "del", "garden", "arg")
}

func TestLs(t *testing.T) {
	t.Parallel()
	h := gardenHome(t)
	long := strings.Repeat("x", 200)
	h.ok(`{"key":"a/1","value":"one"}
{"key":"a/2","value":"two\tcols"}
{"key":"a/3","value_b64":"AAH/"}
{"key":"a/4","value":"`+long+`"}
{"key":"b/1","value":"other"}
`, "import", "garden")

	if got, want := h.ok("", "ls", "garden"), "a/1\tone\na/2\ttwo\\tcols\na/3\t<3 bytes>\na/4\t"+strings.Repeat("x", 80)+"…\nb/1\tother\n"; got != want {
		t.Errorf("ls:\n%s\nwant:\n%s", got, want)
	}
	if got, want := h.ok("", "ls", "garden", "--prefix", "a/", "--limit", "2", "--reverse"), "a/4\t"+strings.Repeat("x", 80)+"…\na/3\t<3 bytes>\n"; got != want {
		t.Errorf("ls --prefix a/ --limit 2 --reverse:\n%s\nwant:\n%s", got, want)
	}
	if got, want := h.ok("", "ls", "garden", "--start", "a/2", "--end", "a/4"), "a/2\ttwo\\tcols\na/3\t<3 bytes>\n"; got != want {
		t.Errorf("ls --start --end:\n%s\nwant:\n%s", got, want)
	}
	if got := h.ok("", "ls", "garden", "--prefix", "c/"); got != "" {
		t.Errorf("ls of an empty prefix: %q", got)
	}

	var entries []struct {
		Key, Value, Author, Time string
		ValueB64                 string `json:"value_b64"`
	}
	h.okJSON(&entries, "ls", "garden", "--prefix", "a/", "--json")
	if len(entries) != 4 || entries[0].Key != "a/1" || entries[0].Value != "one" || entries[2].ValueB64 != "AAH/" ||
		entries[3].Value != long || !strings.HasPrefix(entries[1].Author, "aut_") || entries[1].Time == "" {
		t.Errorf("ls --json: %+v", entries)
	}
	if got := strings.TrimSpace(h.ok("", "ls", "garden", "--prefix", "c/", "--json")); got != "[]" {
		t.Errorf("ls --json of nothing: %q", got)
	}
}

func TestLogVerify(t *testing.T) {
	t.Parallel()
	h := gardenHome(t)
	h.ok("", "put", "garden", "k", "v")
	h.ok("", "del", "garden", "k")
	out := h.ok("", "log", "verify", "garden")
	if !verifiedRE.MatchString(out) || !strings.HasPrefix(out, "verified 3 commits (3 ops) by 2 authors; 0 forks") {
		t.Errorf("log verify: %q", out)
	}
	var r struct{ Commits, Ops, Authors, Forks int }
	h.okJSON(&r, "log", "verify", "garden", "--json")
	if r.Commits != 3 || r.Ops != 3 || r.Authors != 2 {
		t.Errorf("log verify --json: %+v", r)
	}
}

// TestWatchHoldsTheHome checks that watch runs until SIGINT and exits 0,
// and that meanwhile another loam process reports the home in use.
func TestWatchHoldsTheHome(t *testing.T) {
	t.Parallel()
	h := gardenHome(t)

	cmd := exec.Command(loamBin, "watch", "garden", "--prefix", "chat/")
	cmd.Env = env(h.dir)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout strings.Builder
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	awaitWatching(t, stderr, "watching garden")

	if line := h.fail(1, "", "put", "garden", "chat/1", "hello"); !strings.Contains(line, "in use by another process") {
		t.Errorf("put while watch runs: %q", line)
	}

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	waitInterrupted(t, cmd)
	if stdout.String() != "" {
		t.Errorf("watch printed %q", stdout.String())
	}
	h.ok("", "put", "garden", "chat/1", "hello") // the home is free again
}
