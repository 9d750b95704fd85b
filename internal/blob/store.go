package blob

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/loamdb/loam/internal/keys"
)

// Directory and file names under a store's root (see the package doc).
const (
	chunksDir    = "chunks"
	manifestsDir = "manifests"
	tmpDir       = "tmp"
	pinsFile     = "pins"
)

// Store is a durable, content-addressed store of chunks and manifests in a
// directory. It is safe for concurrent use. One Store at a time may use a
// directory (the node's home lock sees to that): OpenStore deletes the
// temporary files it finds, which would break another writer's.
//
// Locks: gcMu serializes GC runs with each other and with Pin and Unpin, so
// a blob pinned while GC runs is never collected. mu guards pins, leases and
// held, and GC decides and removes each file with mu held, so a removal is
// atomic with respect to taking a lease. Neither lock is held across a
// callback. Chunk and manifest files need no lock: they are written by
// rename, and two writers of one ID write the same bytes.
type Store struct {
	dir string

	gcMu sync.Mutex

	mu     sync.Mutex
	pins   map[BlobID]struct{} // pinned blobs, as in the pins file
	leases map[BlobID]*lease   // blobs in use by a download, a write or a Reader
	held   map[ChunkID]int     // chunks GC must keep: those of known leased manifests and of Adds in progress, with counts

	unsynced bool       // chunks were stored since the last Sync; guarded by mu
	syncMu   sync.Mutex // serializes Sync
}

// lease is the state of one leased blob.
type lease struct {
	n      int       // holders
	known  bool      // the manifest has been read and its chunks added to held
	chunks []ChunkID // those chunks, to remove from held on the last release
}

// OpenStore opens the store in dir, creating it if needed. It removes the
// temporary files of writes that were interrupted (by a crash or a kill).
func OpenStore(dir string) (*Store, error) {
	for _, d := range []string{dir, filepath.Join(dir, chunksDir), filepath.Join(dir, manifestsDir), filepath.Join(dir, tmpDir)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("blob: open %s: %w", dir, err)
		}
	}
	tmp := filepath.Join(dir, tmpDir)
	ents, err := os.ReadDir(tmp)
	if err != nil {
		return nil, fmt.Errorf("blob: open %s: %w", dir, err)
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(tmp, e.Name())); err != nil {
			return nil, fmt.Errorf("blob: open %s: clean temporary files: %w", dir, err)
		}
	}
	s := &Store{
		dir:    dir,
		leases: make(map[BlobID]*lease),
		held:   make(map[ChunkID]int),
	}
	if s.pins, err = s.readPins(); err != nil {
		return nil, fmt.Errorf("blob: open %s: %w", dir, err)
	}
	return s, nil
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

func (s *Store) path(kind string, id [keys.Size]byte) string {
	shard, name := fileName(id)
	return filepath.Join(s.dir, kind, shard, name)
}

// Put stores the chunk id with contents data. It verifies data against id
// first and refuses data that does not match (ErrCorrupt; nothing is
// written). When Put returns nil the chunk is durable. Putting a chunk that
// is already stored does nothing.
//
// Put does not protect the chunk from GC: a download holds a Lease on its
// blob, with the manifest stored (PutManifest), while it puts chunks.
func (s *Store) Put(id ChunkID, data []byte) error {
	if err := VerifyChunk(id, data); err != nil {
		return fmt.Errorf("blob: put: %w", err)
	}
	return s.putVerified(id, data)
}

// putVerified is Put for data known to hash to id.
func (s *Store) putVerified(id ChunkID, data []byte) error {
	if err := s.putDeferred(id, data); err != nil {
		return err
	}
	return s.Sync()
}

// putDeferred stores a chunk known to hash to id without waiting for it to
// be durable: Sync makes it so. A crash of the process loses nothing (the
// file is in place); a crash of the system may leave the file short or
// empty, which Missing then counts as missing and a read as damaged.
func (s *Store) putDeferred(id ChunkID, data []byte) error {
	p := s.path(chunksDir, id)
	if fi, err := os.Lstat(p); err == nil && fi.Size() == int64(len(data)) {
		return nil
	}
	if err := s.writeAtomic(p, data, !canSyncFS); err != nil {
		return fmt.Errorf("blob: put %s: %w", id, err)
	}
	s.mu.Lock()
	s.unsynced = true
	s.mu.Unlock()
	return nil
}

// Sync makes every chunk stored so far durable, with one flush of the file
// system rather than one per chunk.
func (s *Store) Sync() error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.mu.Lock()
	pending := s.unsynced
	s.unsynced = false
	s.mu.Unlock()
	if !pending {
		return nil
	}
	if err := syncFS(s.dir); err != nil {
		s.mu.Lock()
		s.unsynced = true
		s.mu.Unlock()
		return fmt.Errorf("blob: sync: %w", err)
	}
	return nil
}

// Get returns the contents of chunk id, verified against id. A chunk whose
// file no longer matches (damaged on disk) is removed, so that it can be
// fetched again, and Get returns an error wrapping ErrCorrupt. A chunk not
// stored is ErrNotFound.
func (s *Store) Get(id ChunkID) ([]byte, error) {
	data, err := s.getChunk(id)
	if err != nil {
		return nil, fmt.Errorf("blob: get %s: %w", id, err)
	}
	return data, nil
}

// getChunk is Get with errors not wrapped.
func (s *Store) getChunk(id ChunkID) ([]byte, error) {
	return s.readVerified(s.path(chunksDir, id), ChunkSize, nil, func(b []byte) bool { return ChunkIDOf(b) == id })
}

// GetInto is Get reading into buf when it has the room (a chunk has at
// most ChunkSize bytes): the result is then a prefix of buf, which the
// caller may reuse once done with it.
func (s *Store) GetInto(id ChunkID, buf []byte) ([]byte, error) {
	data, err := s.readVerified(s.path(chunksDir, id), ChunkSize, buf, func(b []byte) bool { return ChunkIDOf(b) == id })
	if err != nil {
		return nil, fmt.Errorf("blob: get %s: %w", id, err)
	}
	return data, nil
}

// Has reports whether chunk id is stored (without reading or verifying it).
func (s *Store) Has(id ChunkID) bool {
	fi, err := os.Lstat(s.path(chunksDir, id))
	return err == nil && fi.Mode().IsRegular()
}

// Delete removes chunk id. Deleting a chunk that is not stored is not an
// error. Delete ignores leases and pins: GC is the safe way to free space.
func (s *Store) Delete(id ChunkID) error {
	if err := os.Remove(s.path(chunksDir, id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob: delete %s: %w", id, err)
	}
	return nil
}

// Missing returns the indices of m's chunks that are not stored, in order:
// what a download still has to fetch. It checks that chunk files exist
// with the chunk's length, not their contents; a damaged chunk is found
// (and removed) when read.
func (s *Store) Missing(m Manifest) []int {
	var out []int
	for i, c := range m.Chunks {
		fi, err := os.Lstat(s.path(chunksDir, c))
		if err != nil || !fi.Mode().IsRegular() || fi.Size() != int64(m.ChunkLen(i)) {
			out = append(out, i)
		}
	}
	return out
}

// readVerified reads the file at p, at most limit bytes, into buf if it
// has the room (else into a new slice), and checks it with ok. A file that fails the check, or is too long, is removed (if it is still
// the file that was read) and reported as ErrCorrupt.
func (s *Store) readVerified(p string, limit int64, buf []byte, ok func([]byte) bool) ([]byte, error) {
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	} else if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var data []byte
	if fi.Size() <= limit {
		if int64(cap(buf)) >= fi.Size() {
			data = buf[:fi.Size()]
		} else {
			data = make([]byte, fi.Size())
		}
		if _, err := io.ReadFull(f, data); err != nil {
			return nil, err
		}
	}
	if fi.Size() > limit || !ok(data) {
		if now, err := os.Lstat(p); err == nil && os.SameFile(fi, now) {
			os.Remove(p)
		}
		return nil, fmt.Errorf("%w: the file on disk was damaged and has been removed; fetch it again", ErrCorrupt)
	}
	return data, nil
}

// writeAtomic writes data to p: a temporary file in tmp/, renamed to p.
// With durable, the file is fsynced before the rename and p's directory
// after it. The shard directory is created on first use.
func (s *Store) writeAtomic(p string, data []byte, durable bool) (err error) {
	f, err := os.CreateTemp(filepath.Join(s.dir, tmpDir), "w-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err == nil && durable {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	dir := filepath.Dir(p)
	if err = os.Mkdir(dir, 0o700); err == nil {
		if durable {
			err = syncDir(filepath.Dir(dir))
		}
	} else if errors.Is(err, fs.ErrExist) {
		err = nil
	}
	if err != nil {
		return err
	}
	if err = os.Rename(tmp, p); err != nil {
		return err
	}
	if !durable {
		return nil
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// walk calls fn for each object of kind (chunksDir or manifestsDir) with its
// ID and file size, ignoring stray files. It stops at fn's first error.
func (s *Store) walk(kind string, fn func(id [keys.Size]byte, size int64) error) error {
	root := filepath.Join(s.dir, kind)
	shards, err := os.ReadDir(root)
	if err != nil {
		return err
	}
	for _, sh := range shards {
		if !sh.IsDir() {
			continue
		}
		ents, err := os.ReadDir(filepath.Join(root, sh.Name()))
		if err != nil {
			return err
		}
		for _, e := range ents {
			id, ok := parseFileName(sh.Name(), e.Name())
			if !ok || !e.Type().IsRegular() {
				continue
			}
			fi, err := e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed since the listing
			} else if err != nil {
				return err
			}
			if err := fn(id, fi.Size()); err != nil {
				return err
			}
		}
	}
	return nil
}
