package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/goleak"
)

// loamBin is the loam binary built once for all tests.
var loamBin string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "loam-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	loamBin = filepath.Join(dir, "loam")
	build := exec.Command("go", "build", "-o", loamBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "go build:", err)
		return 1
	}
	if code := m.Run(); code != 0 {
		return code
	}
	// Every goroutine the tests started in this process has ended: the
	// in-process nodes, API servers and watches of the demos, and the
	// browser tests' chromedp sessions. Nothing needs ignoring: libp2p,
	// Pebble and chromedp leave nothing running once closed.
	if err := goleak.Find(); err != nil {
		fmt.Fprintf(os.Stderr, "goleak: goroutines left running after the tests:\n%v\n", err)
		return 1
	}
	return 0
}

// result is what one run of the binary did.
type result struct {
	stdout, stderr string
	code           int
}

// home is a Loam home for one test.
type home struct {
	t       *testing.T
	dir     string
	timeout time.Duration // of one run; 0: 30 s
}

// newHome returns a fresh, initialized home.
func newHome(t *testing.T) *home {
	t.Helper()
	h := &home{t: t, dir: t.TempDir()}
	h.ok("", "init")
	return h
}

// gardenHome is newHome with the space garden created in it.
func gardenHome(t *testing.T) *home {
	t.Helper()
	h := newHome(t)
	h.ok("", "space", "create", "garden")
	return h
}

// env returns the environment of a run with LOAM_HOME set to dir, and
// LOAM_DHT=off: no daemon a test starts joins the public DHT, even one
// started without --dht.
func env(dir string) []string {
	e := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "LOAM_HOME=") || strings.HasPrefix(kv, "CI=") || strings.HasPrefix(kv, dhtEnv+"=")
	})
	return append(e, "LOAM_HOME="+dir, "CI=true", dhtEnv+"=off")
}

// run runs loam with args and stdin in the home.
func (h *home) run(stdin string, args ...string) result {
	h.t.Helper()
	return runLoam(h.t, runSpec{dir: h.dir, stdin: strings.NewReader(stdin), timeout: h.timeout}, args...)
}

// runSpec is how runLoam runs loam.
type runSpec struct {
	dir     string        // the home (LOAM_HOME)
	stdin   io.Reader     // nil: none
	env     []string      // added to env(dir)
	timeout time.Duration // 0: 30 s
}

// runLoam runs loam with args as s says, to its end, and returns what it
// did; the test fails if loam cannot be run at all.
func runLoam(t *testing.T, s runSpec, args ...string) result {
	t.Helper()
	if s.timeout == 0 {
		s.timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, loamBin, args...)
	cmd.Env = append(env(s.dir), s.env...)
	cmd.Stdin = s.stdin
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("loam %s: %v", strings.Join(args, " "), err)
		}
		r.code = ee.ExitCode()
	}
	return r
}

// ok runs loam and fails the test unless it exits 0; it returns stdout.
func (h *home) ok(stdin string, args ...string) string {
	h.t.Helper()
	r := h.run(stdin, args...)
	if r.code != 0 {
		h.t.Fatalf("loam %s: exit %d\nstderr: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// okJSON runs loam with no stdin as ok does, and decodes its output into
// v.
func (h *home) okJSON(v any, args ...string) {
	h.t.Helper()
	out := h.ok("", args...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		h.t.Fatalf("loam %s: %v in %q", strings.Join(args, " "), err, out)
	}
}

// joinJSON runs 'loam VERB TICKET --json' (VERB: join or seed), fails the
// test unless it exits 0 having printed the ID and name of the space it
// joined (id, name), and returns the run.
func (h *home) joinJSON(verb, ticket, id, name string) result {
	h.t.Helper()
	r := h.run("", verb, ticket, "--json")
	if r.code != 0 {
		h.t.Fatalf("%s: exit %d: %s", verb, r.code, r.stderr)
	}
	var j struct{ ID, Name string }
	if err := json.Unmarshal([]byte(r.stdout), &j); err != nil || j.ID != id || j.Name != name {
		h.t.Errorf("%s --json: %q %v", verb, r.stdout, err)
	}
	return r
}

// fail runs loam, expects exit code want and exactly one stderr line of the
// form "loam: ...", and returns that line.
func (h *home) fail(want int, stdin string, args ...string) string {
	h.t.Helper()
	r := h.run(stdin, args...)
	if r.code != want {
		h.t.Errorf("loam %s: exit %d, want %d (stderr: %q)", strings.Join(args, " "), r.code, want, r.stderr)
	}
	return errorLineOf(h.t, r.stderr)
}

// errorLineOf checks that stderr is exactly one error line and returns it.
func errorLineOf(t *testing.T, stderr string) string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "loam: ") || len(lines[0]) <= len("loam: ") {
		t.Errorf("stderr is not exactly one error line starting \"loam: \": %q", stderr)
	}
	return lines[0]
}

func TestHelpForEveryCommand(t *testing.T) {
	h := &home{t: t, dir: t.TempDir()}
	var walk func(path []string, c *cobra.Command)
	walk = func(path []string, c *cobra.Command) {
		t.Run(strings.Join(append([]string{"loam"}, path...), "_"), func(t *testing.T) {
			h := &home{t: t, dir: h.dir}
			out := h.ok("", append(slices.Clone(path), "--help")...)
			for _, want := range []string{"Usage:", "Examples:", strings.TrimSpace("loam " + strings.Join(path, " "))} {
				if !strings.Contains(out, want) {
					t.Errorf("help lacks %q:\n%s", want, out)
				}
			}
			for _, sub := range c.Commands() {
				if !strings.Contains(out, sub.Short) {
					t.Errorf("help does not list %s with its summary %q:\n%s", sub.Name(), sub.Short, out)
				}
			}
			if c.Example == "" || c.Short == "" || strings.Contains(c.Short, "\n") {
				t.Errorf("%s: want a one-line Short and an Example", c.CommandPath())
			}
		})
		for _, sub := range c.Commands() {
			walk(append(slices.Clone(path), sub.Name()), sub)
		}
	}
	walk(nil, newRootCmd())
	if entries, _ := os.ReadDir(h.dir); len(entries) != 0 {
		t.Errorf("--help wrote to the home: %v", entries)
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	h := gardenHome(t)
	for _, args := range [][]string{
		{"put"},
		{"put", "garden", "k"},
		{"put", "garden", "k", "v", "-f", "file"},
		{"get", "garden"},
		{"get", "garden", "k", "extra"},
		{"nosuch"},
		{"space", "nosuch"},
		{"ls", "garden", "--limit", "x"},
		{"ls", "garden", "--limit", "-1"},
		{"ls", "garden", "--no-such-flag"},
		{"import", "garden", "--batch", "0"},
		{"space", "ls", "extra"},
	} {
		line := h.fail(2, "", args...)
		if !strings.Contains(line, "--help'") {
			t.Errorf("loam %s: %q does not point to --help", strings.Join(args, " "), line)
		}
	}
	// A group command without a subcommand shows its help.
	if out := h.ok("", "space"); !strings.Contains(out, "create") {
		t.Errorf("loam space: %q", out)
	}
}

func TestNoHome(t *testing.T) {
	t.Parallel()
	h := &home{t: t, dir: filepath.Join(t.TempDir(), "missing")}
	line := h.fail(1, "", "space", "ls")
	if !strings.Contains(line, "loam init") {
		t.Errorf("got %q, want a hint to run 'loam init'", line)
	}
	if _, err := os.Stat(h.dir); !os.IsNotExist(err) {
		t.Errorf("space ls created the home: %v", err)
	}
}

func TestDemo(t *testing.T) {
	t.Parallel()
	h := &home{t: t, dir: t.TempDir()}
	r := h.run("", "demo")
	if r.code != 0 {
		t.Fatalf("demo: exit %d\nstderr: %s\nstdout: %s", r.code, r.stderr, r.stdout)
	}
	for _, want := range []string{"garden-club", "spc_", "aut_", "verified ", " forks", "view hash",
		"the server sees 0 keys", "hold the note 0 times and the photo's text 0 times", "the same as Ana's: true",
		"put tools/item/", `put chat/msg/general/`, `{"text":"Bo: I'll bring the long table."}`, "A put of tools/drill is refused"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, r.stdout)
		}
	}
	if !verifiedRE.MatchString(r.stdout) {
		t.Errorf("demo output lacks the verification line:\n%s", r.stdout)
	}
	if entries, _ := os.ReadDir(h.dir); len(entries) != 0 {
		t.Errorf("demo wrote to LOAM_HOME: %v", entries)
	}
}
