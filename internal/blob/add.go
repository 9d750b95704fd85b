package blob

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/loamdb/loam/internal/keys"
)

// PutManifest stores m durably and returns its blob ID. m must be valid (see
// Manifest.Validate); its chunks need not be stored yet. GC may collect a
// manifest that nothing keeps as soon as it is written, so a download takes
// a Lease on the blob first, then stores the manifest, then the chunks: the
// lease covers each of them from the moment it is stored.
func (s *Store) PutManifest(m Manifest) (BlobID, error) {
	if err := m.Validate(); err != nil {
		return BlobID{}, fmt.Errorf("blob: put manifest: %w", err)
	}
	b := m.Encode()
	id := BlobID(blobHash.Sum1(b))
	p := s.path(manifestsDir, id)
	if _, err := os.Lstat(p); err != nil {
		if err := s.writeAtomic(p, b, true); err != nil {
			return BlobID{}, fmt.Errorf("blob: put manifest %s: %w", id, err)
		}
	}
	s.holdLeased(id, m)
	return id, nil
}

// Manifest returns the stored manifest of blob id, verified against id. A
// manifest damaged on disk is removed and reported as ErrCorrupt; one not
// stored is ErrNotFound.
func (s *Store) Manifest(id BlobID) (Manifest, error) {
	m, err := s.readManifest(id)
	if err != nil {
		return Manifest{}, fmt.Errorf("blob: manifest %s: %w", id, err)
	}
	return m, nil
}

// readManifest is Manifest with errors not wrapped.
func (s *Store) readManifest(id BlobID) (Manifest, error) {
	b, err := s.readVerified(s.path(manifestsDir, id), MaxManifestSize, nil, func(b []byte) bool { return BlobID(blobHash.Sum1(b)) == id })
	if err != nil {
		return Manifest{}, err
	}
	return DecodeManifest(b)
}

// HasManifest reports whether the manifest of blob id is stored.
func (s *Store) HasManifest(id BlobID) bool {
	fi, err := os.Lstat(s.path(manifestsDir, id))
	return err == nil && fi.Mode().IsRegular()
}

// Blobs returns the IDs of every stored manifest, complete or not (see
// Missing), in no particular order.
func (s *Store) Blobs() ([]BlobID, error) {
	var out []BlobID
	err := s.walk(manifestsDir, func(id [keys.Size]byte, _ int64) error {
		out = append(out, BlobID(id))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("blob: list: %w", err)
	}
	return out, nil
}

// Add stores the whole of r as a blob, its chunks then its manifest, reading
// r once, a chunk at a time. GC does not collect the chunks while Add runs,
// but the blob is unprotected once Add returns: to reference it from a key or
// pin it without a window for GC, use AddLeased.
func (s *Store) Add(ctx context.Context, r io.Reader) (BlobID, Manifest, error) {
	id, m, release, err := s.AddLeased(ctx, r)
	if err != nil {
		return BlobID{}, Manifest{}, err
	}
	release()
	return id, m, nil
}

// AddLeased is Add returning with a Lease on the new blob, which the caller
// releases once the blob is referenced or pinned.
func (s *Store) AddLeased(ctx context.Context, r io.Reader) (BlobID, Manifest, func(), error) {
	var mine []ChunkID // chunks this Add holds in s.held
	defer func() { s.unhold(mine) }()
	m, err := split(r, func(_ int, c ChunkID, data []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		s.hold(c)
		mine = append(mine, c)
		return s.putDeferred(c, data)
	})
	if err == nil {
		err = s.Sync() // the chunks are durable before the manifest names them
	}
	if err != nil {
		return BlobID{}, Manifest{}, nil, fmt.Errorf("blob: add: %w", err)
	}
	// Lease before storing the manifest: GC may collect an unleased
	// manifest the moment it is written.
	id := m.ID()
	release := s.leaseKnown(id, m)
	if _, err := s.PutManifest(m); err != nil {
		release()
		return BlobID{}, Manifest{}, nil, fmt.Errorf("blob: add: %w", err)
	}
	return id, m, release, nil
}

// hold keeps chunk c from GC until unhold.
func (s *Store) hold(c ChunkID) {
	s.mu.Lock()
	s.held[c]++
	s.mu.Unlock()
}

// unhold undoes one hold of each of cs.
func (s *Store) unhold(cs []ChunkID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range cs {
		if s.held[c]--; s.held[c] <= 0 {
			delete(s.held, c)
		}
	}
}
