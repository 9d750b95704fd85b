package testkit

import (
	"bytes"
	"sync"
)

// SyncBuffer is a bytes buffer safe for concurrent writers and readers:
// a process's output or a logger's destination that the test reads while
// it is written. The zero value is ready to use.
type SyncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far; "" for a nil SyncBuffer.
func (s *SyncBuffer) String() string {
	if s == nil {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
