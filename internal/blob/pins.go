package blob

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Pin keeps blob id through every GC until Unpin, across restarts. The blob
// need not be stored yet. Pin waits for a GC in progress.
func (s *Store) Pin(id BlobID) error {
	if err := s.setPin(id, true); err != nil {
		return fmt.Errorf("blob: pin %s: %w", id, err)
	}
	return nil
}

// Unpin undoes Pin. Unpinning a blob that is not pinned is not an error.
func (s *Store) Unpin(id BlobID) error {
	if err := s.setPin(id, false); err != nil {
		return fmt.Errorf("blob: unpin %s: %w", id, err)
	}
	return nil
}

// Pinned returns the pinned blobs, sorted.
func (s *Store) Pinned() []BlobID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sortedPins(s.pins)
}

// IsPinned reports whether blob id is pinned.
func (s *Store) IsPinned(id BlobID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.pins[id]
	return ok
}

// setPin writes the pins file with id added or removed, then updates
// s.pins. gcMu serializes it with GC and with other pin changes, so the copy
// it makes cannot go stale.
func (s *Store) setPin(id BlobID, on bool) error {
	s.gcMu.Lock()
	defer s.gcMu.Unlock()
	s.mu.Lock()
	_, was := s.pins[id]
	next := make(map[BlobID]struct{}, len(s.pins)+1)
	for p := range s.pins {
		next[p] = struct{}{}
	}
	s.mu.Unlock()
	if was == on {
		return nil
	}
	if on {
		next[id] = struct{}{}
	} else {
		delete(next, id)
	}
	var b strings.Builder
	for _, p := range sortedPins(next) {
		b.WriteString(p.String())
		b.WriteByte('\n')
	}
	if err := s.writeAtomic(filepath.Join(s.dir, pinsFile), []byte(b.String()), true); err != nil {
		return err
	}
	s.mu.Lock()
	s.pins = next
	s.mu.Unlock()
	return nil
}

// readPins reads the pins file: one blob ID per line, each ending in a
// newline. A missing file is no pins.
func (s *Store) readPins() (map[BlobID]struct{}, error) {
	p := filepath.Join(s.dir, pinsFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return map[BlobID]struct{}{}, nil
	} else if err != nil {
		return nil, err
	}
	pins := make(map[BlobID]struct{})
	for i, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if line == "" && len(b) == 0 {
			break
		}
		id, err := ParseBlobID(line)
		if err != nil {
			return nil, fmt.Errorf("pins file %s, line %d: %w (fix or remove the line; the file lists pinned blob IDs)", p, i+1, err)
		}
		pins[id] = struct{}{}
	}
	return pins, nil
}

func sortedPins(set map[BlobID]struct{}) []BlobID {
	out := make([]BlobID, 0, len(set))
	for id := range set {
		out = append(out, id)
	}
	slices.SortFunc(out, func(a, b BlobID) int { return bytes.Compare(a[:], b[:]) })
	return out
}
