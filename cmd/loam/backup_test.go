package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runEnv runs loam in home dir with extra environment variables.
func runEnv(t *testing.T, dir string, extra []string, args ...string) result {
	t.Helper()
	return runLoam(t, runSpec{dir: dir, env: extra, timeout: 60 * time.Second}, args...)
}

// TestBackupCLI: 'loam backup create' of a device holding an identity
// (and so its own space) says the backup holds the identity key; then, on a
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
	me := personSpaceOf(t, h.dir)
	h.ok("", "put", me, "notes/1", "call Bo")
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
	for _, want := range []string{"identity " + id.ID + ", with its key", "your own space " + me, "this backup holds your identity key: anyone with the file and the passphrase can act as you"} {
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
		!strings.Contains(r.stdout, "identity "+id.ID+", with its key") || !strings.Contains(r.stdout, "("+me+"): your own space") {
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
	if v := h2.ok("", "get", me, "notes/1"); strings.TrimSpace(v) != "call Bo" {
		t.Errorf("get in the person's space after the restore: %q", v)
	}
	r = runEnv(t, fresh, pass, "backup", "restore", file)
	if line := errorLineOf(t, r.stderr); r.code == 0 || !strings.Contains(line, "already has a device key") {
		t.Errorf("restore onto a home with a device key: exit %d, %q", r.code, line)
	}
}

// personSpaceOf returns the person's own space that home's identity file
// names (its 'space' line, docs/format/identity.md §5).
func personSpaceOf(t *testing.T, home string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(home, "identity"))
	if err != nil {
		t.Fatal(err)
	}
	for l := range strings.Lines(string(b)) {
		if id, ok := strings.CutPrefix(l, "space "); ok {
			return strings.TrimSpace(id)
		}
	}
	t.Fatalf("the identity file names no person's space:\n%s", b)
	return ""
}
