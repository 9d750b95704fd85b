package main

import (
	"encoding/json"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"0", 0},
		{"90s", 90 * time.Second},
		{"1h30m", 90 * time.Minute},
		{"1.5h", 90 * time.Minute},
		{"3d", 72 * time.Hour},
		{"1d12h", 36 * time.Hour},
		{"1.5d", 36 * time.Hour},
		{"2d30m15s", 48*time.Hour + 30*time.Minute + 15*time.Second},
		{" 7d ", 7 * day},
		{"+1d", day},
		{"0d", 0},
		{"106751d", 106751 * day},
	} {
		got, err := parseDuration(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if err == nil {
			back, err := parseDuration(formatDuration(got))
			if err != nil || back != got {
				t.Errorf("parseDuration(formatDuration(%v) = %q) = %v, %v", got, formatDuration(got), back, err)
			}
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"", "want a duration such as"},
		{"3", "want a duration such as"},
		{"3x", "want a duration such as"},
		{"d", "want a duration such as"},
		{"3dd", "want a duration such as"},
		{"1d-2h", "want a duration such as"},
		{"1dh", "want a duration such as"},
		{"12h1d", "days come first"},
		{"-1h", "must not be negative"},
		{"-3d", "must not be negative"},
		{"1d+2h", "want a duration such as"},
		{"1.2.3d", "want a duration such as"},
		{"106752d", "too long"},
		{"106751d24h", "too long"},
	} {
		if got, err := parseDuration(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseDuration(%q) = %v, %v; want an error with %q", tc.in, got, err, tc.want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                                   "0",
		10 * time.Minute:                    "10m",
		90 * time.Minute:                    "1h30m",
		24 * time.Hour:                      "1d",
		36 * time.Hour:                      "1d12h",
		72*time.Hour + 30*time.Second:       "3d30s",
		1500 * time.Millisecond:             "1.5s",
		2*time.Hour + 3*time.Millisecond:    "2h0m0.003s",
		-time.Hour:                          "-1h",
		49*time.Hour + 61*time.Minute:       "2d2h1m",
		time.Duration(5) * time.Microsecond: "5µs",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// Every duration flag reads days, and refuses bad input as a usage error
// that shows what it wants.
func TestDurationFlags(t *testing.T) {
	t.Parallel()
	h := newHome(t)
	for _, args := range [][]string{
		{"invite", "garden", "--expires", "3x"},
		{"join", "loam2x", "--timeout", "12h1d"},
		{"seed", "loam2x", "--timeout", "-5m"},
		{"daemon", "--relay-duration", "1w"},
		{"bootstrap", "--relay-duration", "ten minutes"},
	} {
		line := h.fail(2, "", args...)
		if !strings.Contains(line, "invalid argument") || !strings.Contains(line, args[len(args)-2]) ||
			!strings.Contains(line, "duration") {
			t.Errorf("loam %s: %q; want an invalid argument error for %s", strings.Join(args, " "), line, args[len(args)-2])
		}
	}
	// Days pass the flag: what fails next is the want of a daemon.
	if line := h.fail(1, "", "invite", "garden", "--expires", "1d12h"); !strings.Contains(line, "daemon") {
		t.Errorf("loam invite --expires 1d12h without a daemon: %q", line)
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	h := &home{t: t, dir: t.TempDir()}
	var v struct {
		Version    string    `json:"version"`
		Commit     string    `json:"commit"`
		CommitTime time.Time `json:"commit_time"`
		Dirty      *bool     `json:"dirty"`
		Go         string    `json:"go"`
	}
	out := h.ok("", "version", "--json")
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("loam version --json: %v\n%s", err, out)
	}
	// The test binary and loam are built by the same toolchain.
	if v.Version == "" || v.Dirty == nil || v.Go != runtime.Version() {
		t.Errorf("loam version --json = %s; want a version, dirty, and go %s", out, runtime.Version())
	}
	if v.Commit == "" && v.Version != "devel" {
		t.Errorf("loam version --json = %s: a version without a commit must be devel", out)
	}
	text := h.ok("", "version")
	if first, _, _ := strings.Cut(text, "\n"); first != "loam "+v.Version {
		t.Errorf("loam version: first line %q, want %q", first, "loam "+v.Version)
	}
	if !strings.Contains(text, "go      "+v.Go+"\n") || !strings.Contains(text, "commit  ") {
		t.Errorf("loam version:\n%s", text)
	}
	for _, flag := range []string{"--version", "-v"} {
		line := h.ok("", flag)
		if !strings.HasPrefix(line, "loam "+v.Version) || strings.Count(line, "\n") != 1 ||
			v.Commit != "" && !strings.Contains(line, v.Commit[:12]) {
			t.Errorf("loam %s = %q; want one line with version %s and commit %q", flag, line, v.Version, v.Commit)
		}
	}
	if entries, _ := os.ReadDir(h.dir); len(entries) != 0 {
		t.Errorf("loam version wrote to the home: %v", entries)
	}
}

func TestCompletion(t *testing.T) {
	t.Parallel()
	h := &home{t: t, dir: t.TempDir()}
	for shell, want := range map[string]string{
		"bash": "complete -o default -F __start_loam loam",
		"zsh":  "#compdef loam",
		"fish": "complete -c loam ",
	} {
		if out := h.ok("", "completion", shell); !strings.Contains(out, want) {
			t.Errorf("loam completion %s lacks %q:\n%.400s", shell, want, out)
		}
	}
	if line := h.fail(2, "", "completion", "tcsh"); !strings.Contains(line, "bash, zsh and fish") {
		t.Errorf("loam completion tcsh: %q", line)
	}
	// What the scripts call: loam completes its own commands and flags.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"sta"}, "status\t"},
		{[]string{"space", "cr"}, "create\t"},
		{[]string{"completion", ""}, "fish"},
		{[]string{"invite", "garden", "--exp"}, "--expires\t"},
	} {
		out := h.ok("", append([]string{"__complete"}, tc.args...)...)
		if !strings.Contains(out, tc.want) {
			t.Errorf("loam __complete %s: %q lacks %q", strings.Join(tc.args, " "), out, tc.want)
		}
	}
}

// A mistyped command is refused as a usage error that names the closest
// command, at every level.
func TestSuggestions(t *testing.T) {
	t.Parallel()
	h := &home{t: t, dir: t.TempDir()}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"stauts"}, `did you mean "status"?`},
		{[]string{"pt", "garden", "k", "v"}, `did you mean "put"?`},
		{[]string{"ver"}, `did you mean "version"?`},
		{[]string{"inivte", "garden"}, `did you mean "invite"?`},
		{[]string{"space", "craete", "garden"}, `did you mean "create"?`},
		{[]string{"blob", "lss"}, `did you mean "ls"?`},
		{[]string{"log", "verfy", "garden"}, `did you mean "verify"?`},
	} {
		line := h.fail(2, "", tc.args...)
		if !strings.Contains(line, "unknown command") || !strings.Contains(line, tc.want) {
			t.Errorf("loam %s: %q; want an unknown command error with %q", strings.Join(tc.args, " "), line, tc.want)
		}
	}
	if got := editDistance("inivte", "invite"); got != 1 {
		t.Errorf("editDistance(inivte, invite) = %d, want 1 (a swap)", got)
	}
	if line := h.fail(2, "", "xyzzy"); strings.Contains(line, "did you mean") {
		t.Errorf("loam xyzzy: %q suggests a command nothing like it", line)
	}
}
