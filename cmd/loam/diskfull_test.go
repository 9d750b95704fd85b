package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tmpfsHome mounts a tmpfs of size bytes and returns a fresh, initialized
// home on it. It skips the test where that cannot be done (not root, no
// mount).
func tmpfsHome(t *testing.T, size int) *home {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs (CI runs as root)")
	}
	mnt := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	h := &home{t: t, dir: filepath.Join(mnt, "home")}
	h.ok("", "init")
	return h
}

// fillFile writes the file until the disk is full, as another program
// would, and returns how many bytes it holds.
func fillFile(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	var n int64
	for {
		m, err := f.Write(buf)
		n += int64(m)
		if errors.Is(err, syscall.ENOSPC) {
			if m == 0 {
				buf = buf[:len(buf)/2]
				if len(buf) == 0 {
					return n
				}
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestDaemonFullDisk runs the real daemon with its home on a 20 MB tmpfs
// and fills the disk through the API: every acknowledged write survives;
// once the disk is full, writes (puts and blobs) fail with an error that
// says the disk is full and where to free space, and leave nothing
// behind; reads work; SIGTERM stops the daemon at once. Filled to the
// last byte by another program, the daemon starts again and serves
// reads, and 'loam log verify' completes; once space is freed, writes
// work again.
func TestDaemonFullDisk(t *testing.T) {
	const size = 20 << 20
	h := tmpfsHome(t, size)
	spare := filepath.Join(filepath.Dir(h.dir), "spare") // another program's data, deleted to free space
	if err := os.WriteFile(spare, make([]byte, 4<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	d := startDaemon(t, h, loopbackDaemon...)
	if _, err := d.client.CreateSpace(ctx, "full"); err != nil {
		t.Fatal(err)
	}

	rnd := rand.New(rand.NewPCG(1, 2))
	acked := map[string][]byte{}
	put := func(d *daemonProc, key string) error {
		v := make([]byte, 32<<10)
		for i := range v {
			v[i] = byte(rnd.Uint32()) // incompressible
		}
		if err := d.client.Put(ctx, "full", []byte(key), v); err != nil {
			return err
		}
		acked[key] = v
		return nil
	}
	wantFull := func(err error, what string) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s on a full disk succeeded", what)
		}
		if msg := err.Error(); !strings.Contains(msg, "disk is full") || !strings.Contains(msg, "free space") || !strings.Contains(msg, h.dir) {
			t.Fatalf("%s on a full disk: %q; want it to say the disk is full and to free space in %s", what, msg, h.dir)
		}
	}
	checkAcked := func(d *daemonProc, when string) {
		t.Helper()
		for k, v := range acked {
			e, err := d.client.Get(ctx, "full", []byte(k))
			if err != nil {
				t.Fatalf("%s: acknowledged %s: %v", when, k, err)
			}
			if got, err := e.ValueBytes(); err != nil || !bytes.Equal(got, v) {
				t.Fatalf("%s: acknowledged %s holds another value (%v)", when, k, err)
			}
		}
	}

	var err error
	for i := 0; err == nil; i++ {
		if i > 2000 {
			t.Fatal("2,000 writes of 32 KiB fit on a disk of 20 MB")
		}
		err = put(d, fmt.Sprintf("k%04d", i))
	}
	wantFull(err, "a put")
	if len(acked) < 50 {
		t.Fatalf("only %d writes of 32 KiB fit on a disk of 20 MB before: %v", len(acked), err)
	}
	t.Logf("%d puts of 32 KiB acknowledged, then: %v", len(acked), err)
	if _, err := d.client.PutStream(ctx, "full", []byte("blob"), bytes.NewReader(make([]byte, 1<<20)), "application/octet-stream"); err != nil {
		wantFull(err, "a blob write")
	} else {
		t.Fatal("a blob write on a full disk succeeded")
	}
	if tmp, _ := os.ReadDir(filepath.Join(h.dir, "blobs", "tmp")); len(tmp) > 0 {
		t.Errorf("a failed blob write left %d temporary files", len(tmp))
	}
	checkAcked(d, "disk full")

	// Another program takes the rest; SIGTERM stops the daemon at once.
	filler := filepath.Join(filepath.Dir(h.dir), "filler")
	t.Logf("the filler took %d more bytes", fillFile(t, filler))
	wantFull(put(d, "more"), "a put")
	stopped := time.Now()
	d.stop(t)
	if took := time.Since(stopped); took > 20*time.Second {
		t.Errorf("the daemon took %s to stop on SIGTERM", took)
	}
	fillFile(t, filler+"2") // what the daemon freed as it stopped

	// Restarted on the full disk, it starts and serves reads; so does
	// the direct mode.
	h.timeout = time.Minute
	if out := h.ok("", "log", "verify", "full"); !verifiedRE.MatchString(out) {
		t.Fatalf("loam log verify on a full disk: %q", out)
	}
	d = startDaemon(t, h, loopbackDaemon...)
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(d.out.String(), "ready;"); {
		if time.Now().After(deadline) {
			t.Fatalf("the daemon did not say it is ready:\n%s", d.out)
		}
		time.Sleep(10 * time.Millisecond) // re-check interval
	}
	if out := d.out.String(); !strings.Contains(out, "warning: the disk is full") {
		t.Errorf("the daemon started on a full disk without saying so:\n%s", out)
	}
	checkAcked(d, "restarted on a full disk")
	wantFull(put(d, "more"), "a put after the restart")

	// Space is freed: writes work again.
	for _, f := range []string{filler, filler + "2", spare} {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "a put once space was freed", func() error { return put(d, "after") })
	eventually(t, "a blob write once space was freed", func() error {
		_, err := d.client.PutStream(ctx, "full", []byte("blob"), bytes.NewReader(make([]byte, 256<<10)), "application/octet-stream")
		return err
	})
	checkAcked(d, "after freeing space")
	d.stop(t)
}

// eventually retries write until it succeeds, for up to 30 s: once space
// is freed, a compaction still running may hold some of it for a moment.
// Every failure must say the disk is full.
func eventually(t *testing.T, what string, write func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := write()
		if err == nil {
			return
		}
		if !strings.Contains(err.Error(), "disk is full") || time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond) // re-check interval
	}
}
