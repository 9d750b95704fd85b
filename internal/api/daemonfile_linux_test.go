package api

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestDaemonInfoOnFullDisk: on a disk another program filled to the last
// byte, after the daemon's stop freed its daemon.json and the filler took
// that room too, the next daemon still writes daemon.json (from its
// reserve) and so can start. Failed before the reserve: the daemon exited
// with "write daemon.json: no space left on device" (CI, TestDaemonFullDisk).
func TestDaemonInfoOnFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs (CI runs as root)")
	}
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", 1<<20)); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })
	home := filepath.Join(mnt, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	info := DaemonInfo{API: "127.0.0.1:7777", Peer: "12D3KooW", PID: 1}
	if err := WriteDaemonInfo(home, info); err != nil {
		t.Fatal(err)
	}
	fill := func(name string) {
		f, err := os.Create(filepath.Join(mnt, name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for buf := make([]byte, 64<<10); len(buf) > 0; {
			if _, err := f.Write(buf); errors.Is(err, syscall.ENOSPC) {
				buf = buf[:len(buf)/2]
			} else if err != nil {
				t.Fatal(err)
			}
		}
	}
	fill("filler")
	if err := RemoveDaemonInfo(home); err != nil { // the daemon stops
		t.Fatal(err)
	}
	fill("filler2") // and the filler takes what it freed
	if err := WriteDaemonInfo(home, info); err != nil {
		t.Fatalf("a daemon starting on the full disk: %v", err)
	}
	got, err := ReadDaemonInfo(home)
	if err != nil || got.API != info.API {
		t.Fatalf("daemon.json written on the full disk reads %+v, %v", got, err)
	}
}
