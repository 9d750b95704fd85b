package blob

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"

	"github.com/loamdb/loam/internal/keys"
)

// Lease marks blob id as in use until release is called: GC keeps its
// manifest and every chunk it lists. A download takes a lease before it
// stores the manifest and holds it until it has finished; a Reader holds one
// while open. The manifest need not be stored yet: the lease covers it, and
// its chunks, from the moment PutManifest stores it. Leases live in memory
// only and may be nested; release may be called more than once.
func (s *Store) Lease(id BlobID) (release func()) {
	// The lease is registered before the manifest is read: a concurrent
	// PutManifest either finds the lease or stored the file read here.
	if !s.addLease(id) {
		if m, err := s.readManifest(id); err == nil {
			s.holdLeased(id, m)
		}
	}
	return s.releaser(id)
}

// leaseKnown is Lease for a blob whose manifest m is at hand.
func (s *Store) leaseKnown(id BlobID, m Manifest) (release func()) {
	s.addLease(id)
	s.holdLeased(id, m)
	return s.releaser(id)
}

// addLease counts one more holder of blob id's lease and reports whether
// its manifest's chunks are held already.
func (s *Store) addLease(id BlobID) (known bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.leases[id]
	if l == nil {
		l = &lease{}
		s.leases[id] = l
	}
	l.n++
	return l.known
}

// holdLeased adds the chunks of m to held if blob id is leased and they are
// not there yet.
func (s *Store) holdLeased(id BlobID, m Manifest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.leases[id]
	if l == nil || l.known {
		return
	}
	l.known, l.chunks = true, m.Chunks
	for _, c := range m.Chunks {
		s.held[c]++
	}
}

func (s *Store) releaser(id BlobID) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			l := s.leases[id]
			if l.n--; l.n > 0 {
				return
			}
			delete(s.leases, id)
			for _, c := range l.chunks {
				if s.held[c]--; s.held[c] <= 0 {
					delete(s.held, c)
				}
			}
		})
	}
}

// Leased reports whether blob id is leased.
func (s *Store) Leased(id BlobID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leases[id] != nil
}

// GC frees the space of blobs no longer wanted and returns the bytes freed.
// A blob is kept if keep(id) is true, it is pinned, or it is leased; GC
// deletes the manifests of the others, and then every chunk that no kept
// blob's manifest lists, unless a lease or an Add in progress holds it.
//
// keep is called on GC's goroutine with no lock held; it must not call GC,
// Pin or Unpin (which wait for GC). If ctx ends, GC stops and returns what it
// freed so far with ctx's error. A manifest of a kept blob that cannot be
// read stops GC before it deletes any chunk.
func (s *Store) GC(ctx context.Context, keep func(BlobID) bool) (freed int64, err error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("blob: gc: %w", err)
	}
	s.gcMu.Lock()
	defer s.gcMu.Unlock()
	s.mu.Lock()
	pins := make(map[BlobID]struct{}, len(s.pins))
	for id := range s.pins {
		pins[id] = struct{}{}
	}
	s.mu.Unlock()

	type object struct {
		id   BlobID
		size int64
	}
	var blobs []object
	if err := s.walk(manifestsDir, func(id [keys.Size]byte, size int64) error {
		blobs = append(blobs, object{BlobID(id), size})
		return nil
	}); err != nil {
		return 0, fmt.Errorf("blob: gc: list manifests: %w", err)
	}

	live := make(map[ChunkID]struct{})
	addLive := func(id BlobID) error {
		m, err := s.readManifest(id)
		if errors.Is(err, ErrNotFound) {
			return nil
		} else if err != nil {
			return fmt.Errorf("blob: gc: manifest %s: %w", id, err)
		}
		for _, c := range m.Chunks {
			live[c] = struct{}{}
		}
		return nil
	}
	var drop []object
	for _, b := range blobs {
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("blob: gc: %w", err)
		}
		if _, pinned := pins[b.id]; pinned || s.Leased(b.id) || keep(b.id) {
			if err := addLive(b.id); err != nil {
				return 0, err
			}
		} else {
			drop = append(drop, b)
		}
	}

	// Drop manifests, deciding under mu: a blob leased since the scan
	// above is kept after all, and its chunks with it.
	for _, b := range drop {
		if err := ctx.Err(); err != nil {
			return freed, fmt.Errorf("blob: gc: %w", err)
		}
		var rerr error
		s.mu.Lock()
		leased := s.leases[b.id] != nil
		if !leased {
			rerr = removeFile(s.path(manifestsDir, b.id))
		}
		s.mu.Unlock()
		if rerr != nil {
			return freed, fmt.Errorf("blob: gc: remove manifest %s: %w", b.id, rerr)
		}
		if leased {
			if err := addLive(b.id); err != nil {
				return freed, err
			}
		} else {
			freed += b.size
		}
	}

	// Drop chunks. A chunk outside live may still be held: by a lease
	// taken since the scan (once its manifest is known) or by an Add in
	// progress, which holds each chunk before it writes it.
	err = s.walk(chunksDir, func(id [keys.Size]byte, size int64) error {
		if _, ok := live[ChunkID(id)]; ok {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.held[ChunkID(id)] > 0 {
			return nil
		}
		if err := removeFile(s.path(chunksDir, id)); err != nil {
			return fmt.Errorf("remove chunk %s: %w", ChunkID(id), err)
		}
		freed += size
		return nil
	})
	if err != nil {
		return freed, fmt.Errorf("blob: gc: %w", err)
	}
	return freed, nil
}

// removeFile removes p; a file already gone is not an error.
func removeFile(p string) error {
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
