package blob

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

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

	createDirect func(dir string) (*os.File, error) // createDirect, but in tests
	noDirect     atomic.Bool                        // the file system refused a direct write: write through the page cache
	direct       atomic.Int64                       // chunks written directly, for the tests
	copied       atomic.Int64                       // of those, chunks copied into an aligned buffer first

	shards sync.Map // shard directories known to exist (path → struct{})
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
		dir:          dir,
		leases:       make(map[BlobID]*lease),
		held:         make(map[ChunkID]int),
		createDirect: createDirect,
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
	return s.putChunk(id, data, false)
}

// putDirect is putDeferred writing the chunk with O_DIRECT where the file
// system allows it (see direct.go), and through the page cache where it
// does not. data is read only; a write from it is direct without a copy
// if it is aligned with room for the padding (a Client's buffer is).
func (s *Store) putDirect(id ChunkID, data []byte) error {
	return s.putChunk(id, data, canSyncFS)
}

func (s *Store) putChunk(id ChunkID, data []byte, direct bool) error {
	p := s.path(chunksDir, id)
	if fi, err := os.Lstat(p); err == nil && fi.Size() == int64(len(data)) {
		return nil
	}
	var tmp string
	var err error
	if direct && len(data) <= ChunkSize && !s.noDirect.Load() {
		tmp, err = s.writeTempDirect(data)
	}
	if tmp == "" && err == nil {
		tmp, err = s.writeTemp(data, !canSyncFS)
	}
	if err == nil {
		err = s.place(tmp, p, !canSyncFS)
	}
	if err != nil {
		return fmt.Errorf("blob: put %s: %w", id, err)
	}
	s.mu.Lock()
	s.unsynced = true
	s.mu.Unlock()
	return nil
}

// writeTempDirect writes a chunk to a new temporary file in tmp/ with
// O_DIRECT and returns its path. It returns "" and no error if the file
// system refuses (nothing is left behind, and later chunks of s go
// through the page cache at once).
func (s *Store) writeTempDirect(data []byte) (tmp string, err error) {
	f, err := s.createDirect(filepath.Join(s.dir, tmpDir))
	if isDirectRefused(err) {
		s.noDirect.Store(true)
		return "", nil
	} else if err != nil {
		return "", err
	}
	padded := alignUp(len(data))
	buf := data
	if !isAligned(data) || cap(data) < padded {
		buf = getDataBuf()
		defer putDataBuf(buf)
		copy(buf, data)
		s.copied.Add(1)
	}
	_, err = f.Write(buf[:padded])
	if err == nil && padded != len(data) {
		err = f.Truncate(int64(len(data)))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		if isDirectRefused(err) {
			s.noDirect.Store(true)
			return "", nil
		}
		return "", err
	}
	s.direct.Add(1)
	return f.Name(), nil
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
func (s *Store) writeAtomic(p string, data []byte, durable bool) error {
	tmp, err := s.writeTemp(data, durable)
	if err != nil {
		return err
	}
	return s.place(tmp, p, durable)
}

// writeTemp writes data to a new temporary file in tmp/, fsynced if
// durable, and returns its path.
func (s *Store) writeTemp(data []byte, durable bool) (tmp string, err error) {
	f, err := os.CreateTemp(filepath.Join(s.dir, tmpDir), "w-*")
	if err != nil {
		return "", err
	}
	if _, err = f.Write(data); err == nil && durable {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// place renames the temporary file tmp to p, creating p's shard directory
// if needed, and syncs the directories if durable. tmp is removed if
// that fails.
func (s *Store) place(tmp, p string, durable bool) (err error) {
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	dir := filepath.Dir(p)
	_, known := s.shards.Load(dir)
	if !known {
		if err = s.makeShard(dir, durable); err != nil {
			return err
		}
	}
	err = os.Rename(tmp, p)
	if known && errors.Is(err, fs.ErrNotExist) {
		// The shard directory was removed behind the store's back.
		s.shards.Delete(dir)
		if err = s.makeShard(dir, durable); err != nil {
			return err
		}
		err = os.Rename(tmp, p)
	}
	if err != nil || !durable {
		return err
	}
	return syncDir(dir)
}

// makeShard creates the shard directory dir if it does not exist, and
// syncs its parent if durable and it did not. Known shard directories are
// remembered, so that a write does not ask the file system again: a
// mkdir locks the parent directory, and four writers doing it for every
// chunk spent a tenth of a fetch's CPU spinning on that lock.
func (s *Store) makeShard(dir string, durable bool) error {
	err := os.Mkdir(dir, 0o700)
	switch {
	case err == nil && durable:
		err = syncDir(filepath.Dir(dir))
	case errors.Is(err, fs.ErrExist):
		err = nil
	}
	if err == nil {
		s.shards.Store(dir, struct{}{})
	}
	return err
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
