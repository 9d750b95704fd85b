package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// runEnv runs loam in home dir with extra environment variables.
func runEnv(t *testing.T, dir string, extra []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, loamBin, args...)
	cmd.Env = append(env(dir), extra...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestBackupCLI: 'loam backup create' of a device holding an identity
// (and its own space: a private space named in the identity file, as the
// node will name it) says the backup holds the identity key; then, on a
// wiped home, 'loam backup restore' brings back the same device key, the
// same identity with its key, the person's space and the space with its
// data; no passphrase, a wrong one and a flipped byte fail with one clear
// line and write nothing; a home with a device key is refused.
func TestBackupCLI(t *testing.T) {
	h := gardenHome(t)
	h.ok("", "put", "garden", "tools/drill", "cordless, 18V")
	h.ok("", "id", "create", "--name", "Ana")
	var id struct {
		ID       string `json:"id"`
		HoldsKey bool   `json:"holds_key"`
	}
	h.okJSON(&id, "id", "show", "--json")
	var me struct{ ID string }
	h.okJSON(&me, "space", "create", "me", "--private", "--json")
	h.ok("", "put", "me", "spaces/garden", "ticket")
	markPersonSpace(t, h.dir, me.ID)
	devKey, err := os.ReadFile(filepath.Join(h.dir, "device.key"))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "loam.backup")
	pass := []string{"LOAM_PASSPHRASE=correct horse"}
	if r := runEnv(t, h.dir, nil, "backup", "create", "--out", file); r.code == 0 || !strings.Contains(r.stderr, "LOAM_PASSPHRASE") {
		t.Errorf("backup create without a passphrase: exit %d, %q", r.code, r.stderr)
	}
	r := runEnv(t, h.dir, pass, "backup", "create", "--out", file, "--with-data", "garden")
	if r.code != 0 || !strings.Contains(r.stdout, "2 with their data") {
		t.Fatalf("backup create: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"identity " + id.ID + ", with its key", "your own space " + me.ID, "this backup holds your identity key: anyone with the file and the passphrase can act as you"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("backup create does not say %q:\n%s", want, r.stdout)
		}
	}
	if help := h.ok("", "backup", "create", "--help"); !strings.Contains(strings.Join(strings.Fields(help), " "), "anyone with the file and the passphrase can act as you") {
		t.Errorf("backup create --help does not say the backup holds the identity key:\n%s", help)
	}
	b, err := os.ReadFile(file)
	if err != nil || !bytes.HasPrefix(b, []byte("age-encryption.org/v1")) || bytes.Contains(b, devKey[:20]) {
		t.Fatalf("the backup file is not an age file (%v)", err)
	}

	fresh := filepath.Join(t.TempDir(), "home")
	flipped := filepath.Join(t.TempDir(), "flipped.backup")
	c := bytes.Clone(b)
	c[len(c)-40] ^= 1
	os.WriteFile(flipped, c, 0o600)
	for _, bad := range []struct {
		file string
		env  []string
		want string
	}{
		{file, []string{"LOAM_PASSPHRASE=wrong horse"}, "passphrase does not open"},
		{flipped, pass, "damaged"},
	} {
		r := runEnv(t, fresh, bad.env, "backup", "restore", bad.file)
		if line := errorLineOf(t, r.stderr); r.code == 0 || !strings.Contains(line, bad.want) || !strings.Contains(line, "nothing was restored") {
			t.Errorf("restore of %s: exit %d, %q", filepath.Base(bad.file), r.code, line)
		}
		if _, err := os.Stat(fresh); !os.IsNotExist(err) {
			t.Errorf("the failed restore wrote the home: %v", err)
		}
	}
	r = runEnv(t, fresh, pass, "backup", "restore", file)
	if r.code != 0 || !strings.Contains(r.stdout, "garden") || !strings.Contains(r.stdout, "restored with its data") ||
		!strings.Contains(r.stdout, "identity "+id.ID+", with its key") || !strings.Contains(r.stdout, "me ("+me.ID+"): your own space") {
		t.Fatalf("backup restore: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	if got, _ := os.ReadFile(filepath.Join(fresh, "device.key")); !bytes.Equal(got, devKey) {
		t.Error("the restored device key differs")
	}
	h2 := &home{t: t, dir: fresh}
	if got := h2.ok("", "get", "garden", "tools/drill"); strings.TrimSpace(got) != "cordless, 18V" {
		t.Errorf("get after the restore: %q", got)
	}
	h2.ok("", "put", "garden", "tools/saw", "hand saw")
	var got struct {
		ID       string `json:"id"`
		HoldsKey bool   `json:"holds_key"`
	}
	h2.okJSON(&got, "id", "show", "--json")
	if got != id {
		t.Errorf("id show after the restore: %+v, want %+v", got, id)
	}
	if v := h2.ok("", "get", "me", "spaces/garden"); strings.TrimSpace(v) != "ticket" {
		t.Errorf("get in the person's space after the restore: %q", v)
	}
	r = runEnv(t, fresh, pass, "backup", "restore", file)
	if line := errorLineOf(t, r.stderr); r.code == 0 || !strings.Contains(line, "already has a device key") {
		t.Errorf("restore onto a home with a device key: exit %d, %q", r.code, line)
	}
}

// markPersonSpace names space as the person's own space in home's
// identity file (its 'space' line, docs/format/identity.md §5), standing
// in for the person's space until the node makes it.
func markPersonSpace(t *testing.T, home, space string) {
	t.Helper()
	path := filepath.Join(home, "identity")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	i := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "name ") })
	if i < 0 || strings.Contains(string(b), "\nspace ") {
		t.Fatalf("identity file without a name line, or with a space line:\n%s", b)
	}
	lines = slices.Insert(lines, i+1, "space "+space+"\n")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
}
