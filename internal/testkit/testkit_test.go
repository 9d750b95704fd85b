package testkit

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestEnvInt(t *testing.T) {
	t.Setenv("LOAM_TESTKIT_N", "")
	if got := EnvInt(t, "LOAM_TESTKIT_N", 7, 1, 10); got != 7 {
		t.Errorf("unset: %d, want the default 7", got)
	}
	t.Setenv("LOAM_TESTKIT_N", "3")
	if got := EnvInt(t, "LOAM_TESTKIT_N", 7, 1, 10); got != 3 {
		t.Errorf("set to 3: %d", got)
	}
}

func TestFreePort(t *testing.T) {
	if p := FreePort(t); p == "" || p == "0" {
		t.Errorf("FreePort: %q", p)
	}
}

func TestGrep(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "sub"), 0o700)
	os.WriteFile(filepath.Join(dir, "a"), []byte("a secret and a canary"), 0o600)
	os.WriteFile(filepath.Join(dir, "sub", "b"), []byte("nothing"), 0o600)
	got := Grep(t, dir, "secret", "canary", "absent")
	want := []string{filepath.Join(dir, "a") + ": secret", filepath.Join(dir, "a") + ": canary"}
	if !slices.Equal(got, want) {
		t.Errorf("Grep: %q, want %q", got, want)
	}
	if got := Grep(t, dir, ""); len(got) != 2 {
		t.Errorf(`Grep "": %q, want both files`, got)
	}
}

func TestSeed(t *testing.T) {
	if got := Seed(t, 42, "x.seed"); got != 42 {
		t.Errorf("Seed(42) = %d", got)
	}
	if a, b := Seed(t, 0, "x.seed"), Seed(t, 0, "x.seed"); a == b {
		t.Errorf("two random seeds are both %d", a)
	}
}

func TestFramePipe(t *testing.T) {
	a, b := FramePipe(2)
	if err := a.WriteFrame([]byte("one")); err != nil {
		t.Fatal(err)
	}
	b.WriteFrame([]byte("back"))
	if f, err := b.ReadFrame(); err != nil || string(f) != "one" {
		t.Errorf("b read %q, %v", f, err)
	}
	if f, err := a.ReadFrame(); err != nil || string(f) != "back" {
		t.Errorf("a read %q, %v", f, err)
	}
	a.WriteFrame([]byte("two"))
	a.WriteFrame([]byte("three")) // the buffer (2) is full
	b.Close()
	if _, err := a.ReadFrame(); err != io.EOF {
		t.Errorf("read after Close: %v, want io.EOF", err)
	}
	if err := a.WriteFrame(nil); err != io.ErrClosedPipe {
		t.Errorf("write to a full pipe after Close: %v, want io.ErrClosedPipe", err)
	}
	if err := a.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestSyncBuffer(t *testing.T) {
	var b SyncBuffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 100 {
			b.Write([]byte("x"))
		}
	}()
	for range 100 {
		_ = b.String() // concurrently with the writes: -race checks it
	}
	<-done
	if got := b.String(); got != strings.Repeat("x", 100) {
		t.Errorf("SyncBuffer holds %q", got)
	}
}
