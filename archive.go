package loam

import (
	"context"
	"fmt"
	"io"

	"github.com/loamdb/loam/internal/api"
	"github.com/loamdb/loam/internal/archive"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/node"
)

// Errors of space archives.
var (
	// ErrBadArchive: the bytes are not a Loam archive this version reads,
	// or it was damaged or cut short. Nothing was restored.
	ErrBadArchive = archive.ErrBadArchive
	// ErrArchiveRefused: the archive holds a commit that does not verify
	// (its signature, chain or grant). Nothing was restored.
	ErrArchiveRefused = archive.ErrRefused
	// ErrSpaceHeld: the space of the archive is held here already.
	ErrSpaceHeld = node.ErrHeld
)

// ArchiveOptions configure Space.Archive.
type ArchiveOptions struct {
	// WithKeys adds a private space's read keys to the archive: whoever
	// holds it can read the space. Without them (the default) the archive
	// is what a seeder holds: it restores the space, sealed, and only its
	// members read it. A public space has no read keys.
	WithKeys bool
	// Progress, if not nil, is called with the bytes written so far as
	// they are written.
	Progress func(bytes int64)
}

// RestoreOptions configure Node.RestoreSpace.
type RestoreOptions struct {
	// Name is the local name to hold the space under; empty means the
	// name it had where it was archived.
	Name string
	// Progress, if not nil, is called with the bytes read so far.
	Progress func(bytes int64)
}

// ArchiveSummary says what an archive holds or a restore stored.
type ArchiveSummary struct {
	Space     string `json:"space"`
	Name      string `json:"name"`
	Private   bool   `json:"private,omitempty"`
	ReadKeys  bool   `json:"read_keys,omitempty"` // a private space's read keys are in it
	Commits   int    `json:"commits"`
	Blobs     int    `json:"blobs"`
	BlobBytes int64  `json:"blob_bytes"`
	// MissingBlobs counts the blobs the space references that the node
	// did not hold whole, left out of the archive: after a restore they
	// are fetched from peers when read.
	MissingBlobs int   `json:"missing_blobs,omitempty"`
	Bytes        int64 `json:"bytes"` // the archive's size
}

func archiveSummaryOf(s api.ArchiveSummary, n int64) ArchiveSummary {
	return ArchiveSummary{Space: s.Space, Name: s.Name, Private: s.Private, ReadKeys: s.ReadKeys, Commits: s.Commits,
		Blobs: s.Blobs, BlobBytes: s.BlobBytes, MissingBlobs: s.MissingBlobs, Bytes: n}
}

// Archive writes the space to w as an archive (docs/format/archive.md):
// its signed commits as they are, the blobs it references that the node
// holds (sealed ones as stored), and what a restore needs to hold the
// space. Node.RestoreSpace restores it on any node, with no network. On
// error what w holds is not a valid archive.
func (s *Space) Archive(ctx context.Context, w io.Writer, o ArchiveOptions) (ArchiveSummary, error) {
	cw := &counter{w: w, progress: o.Progress}
	var sum api.ArchiveSummary
	switch impl := s.impl.(type) {
	case *localSpace:
		id, err := keys.ParseSpaceID(impl.in.ID)
		if err != nil {
			return ArchiveSummary{}, err
		}
		as, err := archive.Write(ctx, impl.n, id, cw, archive.WriteOptions{WithKeys: o.WithKeys})
		if err != nil {
			return ArchiveSummary{}, err
		}
		sum = api.ArchiveSummaryOf(as)
	case *remoteSpace:
		var err error
		if sum, err = impl.c.Archive(ctx, impl.in.ID, o.WithKeys, cw); err != nil {
			return ArchiveSummary{}, err
		}
	default:
		return ArchiveSummary{}, fmt.Errorf("loam: archive: unknown space implementation %T", s.impl)
	}
	return archiveSummaryOf(sum, cw.n), nil
}

// RestoreSpace reads an archive of Space.Archive from r and holds its
// space: every commit is verified (signature, chain, authorization)
// through the store's normal write path and none is re-signed; no network
// is needed. It is all or nothing: a damaged or cut-short archive
// (ErrBadArchive), a commit that does not verify (ErrArchiveRefused), a
// space held already (ErrSpaceHeld) or a name taken (ErrNameTaken) leave
// nothing behind. With Options.Network (or a daemon) the space then syncs
// with its peers, as a joined one does.
func (n *Node) RestoreSpace(ctx context.Context, r io.Reader, o RestoreOptions) (ArchiveSummary, error) {
	cr := &counter{r: r, progress: o.Progress}
	var sum api.ArchiveSummary
	switch impl := n.impl.(type) {
	case localNode:
		as, err := archive.Restore(ctx, impl.n, cr, archive.RestoreOptions{Name: o.Name})
		if err != nil {
			return ArchiveSummary{}, fmt.Errorf("loam: restore: %w", err)
		}
		sum = api.ArchiveSummaryOf(as)
	case *remoteNode:
		var err error
		if sum, err = impl.c.Restore(ctx, cr, o.Name); err != nil {
			return ArchiveSummary{}, fmt.Errorf("loam: restore: %w", err)
		}
	default:
		return ArchiveSummary{}, fmt.Errorf("loam: restore: unknown node implementation %T", n.impl)
	}
	return archiveSummaryOf(sum, cr.n), nil
}

// counter counts the bytes through a reader or a writer and reports them.
type counter struct {
	r        io.Reader
	w        io.Writer
	n        int64
	progress func(int64)
}

func (c *counter) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.add(k)
	return k, err
}

func (c *counter) Write(p []byte) (int, error) {
	k, err := c.w.Write(p)
	c.add(k)
	return k, err
}

func (c *counter) add(k int) {
	c.n += int64(k)
	if c.progress != nil && k > 0 {
		c.progress(c.n)
	}
}
