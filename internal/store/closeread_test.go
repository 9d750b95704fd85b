package store

import (
	"testing"
	"time"
)

// TestCloseWaitsForReads: Close while a read holds a read state waits for
// it, then closes the database cleanly; reads that start meanwhile fail
// with ErrClosed. Before, Close failed with "leaked snapshots: 1 open
// snapshots" (CI: a CLI exited 1 after its writes succeeded).
func TestCloseWaitsForReads(t *testing.T) {
	s, err := Open(t.TempDir(), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.acquire() // a read in progress
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	for deadline := time.Now().Add(10 * time.Second); ; {
		s.rmu.Lock()
		retired := s.rs == nil
		s.rmu.Unlock()
		if retired {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Close did not retire the read state")
		}
		time.Sleep(time.Millisecond) // re-check interval
	}
	if _, err := s.acquire(); err != ErrClosed {
		t.Errorf("a read after Close started: %v; want ErrClosed", err)
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a read was in progress", err)
	default:
	}
	s.release(r)
	if err := <-closed; err != nil {
		t.Fatalf("Close after the read ended: %v", err)
	}
}
