//go:build linux

package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/loamdb/loam"
)

// openPTY returns a new pseudo-terminal: its controlling side and the
// terminal a program reads as its standard input.
func openPTY(t *testing.T) (control, tty *os.File) {
	t.Helper()
	control, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal to ask on: %v", err)
	}
	t.Cleanup(func() { control.Close() })
	fd := int(control.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close() })
	return control, tty
}

// runOnTTY runs loam with args in h, its standard input a terminal on
// which answer is typed.
func (h *home) runOnTTY(answer string, args ...string) result {
	h.t.Helper()
	control, tty := openPTY(h.t)
	if _, err := control.WriteString(answer); err != nil {
		h.t.Fatal(err)
	}
	return runLoam(h.t, runSpec{dir: h.dir, stdin: tty}, args...)
}

// TestSpaceLeave: 'loam space leave' says what will be lost and asks on
// the terminal (no: nothing removed; yes: left); without a terminal it
// refuses unless --yes; --json prints what was removed; the other space
// stays; the person's own space is refused.
func TestSpaceLeave(t *testing.T) {
	h := gardenHome(t)
	h.ok("", "put", "garden", "tools/drill", "cordless")
	h.ok("", "space", "create", "club")
	h.ok("", "put", "club", "note", "stays")
	ls := func() string { return h.ok("", "space", "ls") }

	if msg := h.fail(1, "", "space", "leave", "garden"); !strings.Contains(msg, "pass --yes") {
		t.Errorf("without a terminal: %q", msg)
	}
	if msg := h.fail(1, "", "space", "leave", "nope"); !strings.Contains(msg, "unknown space") {
		t.Errorf("an unknown space: %q", msg)
	}
	r := h.runOnTTY("n\n", "space", "leave", "garden")
	for _, want := range []string{
		`Leaving "garden" (spc_`, "commits (", "its secret key", "No other device is known to hold this space",
		"only known admin", "Your own writes not yet synced to any peer will be lost", `Leave "garden" and delete its data here? [y/N]`, "nothing removed",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the question lacks %q:\n%s", want, r.stderr)
		}
	}
	if r.code != 0 || !strings.Contains(ls(), "garden") {
		t.Fatalf("answered no: exit %d, spaces %s", r.code, ls())
	}
	r = h.runOnTTY("y\n", "space", "leave", "garden")
	if r.code != 0 || !strings.Contains(r.stdout, `left "garden" (spc_`) || strings.Contains(ls(), "garden") {
		t.Fatalf("answered yes: exit %d, stdout %q, stderr %q, spaces %s", r.code, r.stdout, r.stderr, ls())
	}
	if got := h.ok("", "get", "club", "note"); !strings.Contains(got, "stays") {
		t.Errorf("the other space: %q", got)
	}

	h.ok("", "space", "create", "scratch")
	var rep loam.LeaveReport
	h.okJSON(&rep, "space", "leave", "scratch", "--yes", "--json")
	if rep.Name != "scratch" || !strings.HasPrefix(rep.Space, "spc_") || rep.Commits == 0 || !rep.OnlyAdmin {
		t.Errorf("--json: %+v", rep)
	}
	if strings.Contains(ls(), "scratch") {
		t.Error("scratch is still held")
	}

	h.ok("", "id", "create", "--name", "Ana")
	if msg := h.fail(1, "", "space", "leave", "me", "--yes"); !strings.Contains(msg, "person's own space cannot be left") {
		t.Errorf("the person's own space: %q", msg)
	}
}
