package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
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

// TestBackupCLI: 'loam backup create' then, on a wiped home, 'loam backup
// restore' brings back the same device key and the space with its data;
// no passphrase, a wrong one and a flipped byte fail with one clear line
// and write nothing; a home with a device key is refused.
func TestBackupCLI(t *testing.T) {
	h := gardenHome(t)
	h.ok("", "put", "garden", "tools/drill", "cordless, 18V")
	devKey, err := os.ReadFile(filepath.Join(h.dir, "device.key"))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "loam.backup")
	pass := []string{"LOAM_PASSPHRASE=correct horse"}
	if r := runEnv(t, h.dir, nil, "backup", "create", "--out", file); r.code == 0 || !strings.Contains(r.stderr, "LOAM_PASSPHRASE") {
		t.Errorf("backup create without a passphrase: exit %d, %q", r.code, r.stderr)
	}
	if r := runEnv(t, h.dir, pass, "backup", "create", "--out", file, "--with-data", "garden"); r.code != 0 || !strings.Contains(r.stdout, "1 with their data") {
		t.Fatalf("backup create: exit %d, %q %q", r.code, r.stdout, r.stderr)
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
	if r := runEnv(t, fresh, pass, "backup", "restore", file); r.code != 0 || !strings.Contains(r.stdout, "garden") || !strings.Contains(r.stdout, "restored with its data") {
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
	r := runEnv(t, fresh, pass, "backup", "restore", file)
	if line := errorLineOf(t, r.stderr); r.code == 0 || !strings.Contains(line, "already has a device key") {
		t.Errorf("restore onto a home with a device key: exit %d, %q", r.code, line)
	}
}
