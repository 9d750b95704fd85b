package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam"
	"github.com/loamdb/loam/internal/api"
)

// backend is where a data command reads and writes: the daemon's API when
// a daemon runs for the home (daemonBackend), else the store opened
// directly (directBackend). SPACE arguments (ref) are space IDs or local
// names. withBackend owns a backend's lifetime.
type backend interface {
	Spaces(ctx context.Context) ([]loam.SpaceInfo, error)
	CreateSpace(ctx context.Context, name string, vis loam.Visibility) (loam.SpaceInfo, error)
	// Space resolves ref, failing for a space not held here.
	Space(ctx context.Context, ref string) (loam.SpaceInfo, error)
	Lookup(ctx context.Context, ref string, key []byte) (loam.KV, error)
	Put(ctx context.Context, ref string, key, value []byte) error
	// Delete deletes a visible key; for a key that is not there it fails
	// with loam.ErrNotFound and writes nothing.
	Delete(ctx context.Context, ref string, key []byte) error
	Range(ctx context.Context, ref string, q api.Query) iter.Seq2[loam.KV, error]
	// Write commits writes as one commit: all of them, or none.
	Write(ctx context.Context, ref string, ws []write) error
	// Watch subscribes to the changes under prefix; it returns once every
	// change applied from then on will be seen.
	Watch(ctx context.Context, ref string, prefix []byte) (changes, error)
	Verify(ctx context.Context, ref string) (loam.VerifyReport, error)

	// PutBlob stores r as a blob typed mediaType (may be empty) and writes
	// a reference to it under key.
	PutBlob(ctx context.Context, ref string, key []byte, r io.Reader, mediaType string) (loam.BlobRef, error)
	// AddBlob stores r as a pinned blob.
	AddBlob(ctx context.Context, r io.Reader) (loam.BlobInfo, error)
	Blobs(ctx context.Context) ([]loam.BlobInfo, error)
	// FetchBlob downloads a blob from peers (a daemon's) and pins it.
	FetchBlob(ctx context.Context, id string, progress func(loam.BlobProgress)) (loam.FetchStats, error)
	// OpenBlob returns a blob's bytes, fetching what is missing (with a
	// daemon), and its size.
	OpenBlob(ctx context.Context, id string) (io.ReadCloser, int64, error)
	// OpenKeyBlob returns the bytes of the blob key holds (the plaintext
	// of a private space's sealed blob), and its size.
	OpenKeyBlob(ctx context.Context, ref string, key []byte) (io.ReadCloser, int64, error)
	SetPin(ctx context.Context, id string, on bool) error
	GCBlobs(ctx context.Context) (int64, error)
	Members(ctx context.Context, ref string) ([]loam.Member, error)
	// Revoke revokes a member (aut_…) or an invite (its ticket).
	Revoke(ctx context.Context, ref, target string) (loam.Revoked, error)
}

// write is one put (or, with del, delete) of a Write.
type write struct {
	key, value []byte
	del        bool
	blob       *loam.BlobRef // a put of a reference to this blob instead of value
}

// changes is a stream of changes from Watch.
type changes interface {
	// Next returns the next change. After the watch's context ends it
	// returns the context's error.
	Next() (loam.Change, error)
	Close()
}

// withBackend runs fn with the backend of the home chosen by --home: the
// daemon's API if daemon.json names a daemon that answers, else the store
// opened directly. A daemon.json whose daemon does not answer is ignored
// with a note on stderr.
func withBackend(cmd *cobra.Command, g *globalOptions, fn func(backend) error) (err error) {
	ctx := cmd.Context()
	home := g.homeDir()
	c, stale := findDaemon(ctx, home)
	if c != nil {
		return fn(daemonBackend{c})
	}
	if stale != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "loam: note: %s; opening the store directly\n", stale)
	}
	n, err := openNode(ctx, g)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := n.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close the store: %w", cerr)
		}
	}()
	return fn(directBackend{n})
}

// probeTimeout bounds the wait for a daemon named in daemon.json to answer.
const probeTimeout = 3 * time.Second

// findDaemon returns a client of the daemon that runs for home, or nil.
// When daemon.json is there but its daemon does not answer, stale says
// why.
func findDaemon(ctx context.Context, home string) (c *api.Client, stale error) {
	file := filepath.Join(home, api.DaemonFile)
	c, info, err := api.ClientForHome(home)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && info.API == "" {
			return nil, nil // no daemon.json: no daemon runs
		}
		return nil, fmt.Errorf("ignoring %s: %v", file, err)
	}
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	if _, err := c.Hello(pctx); err != nil {
		return nil, fmt.Errorf("ignoring %s: the daemon it names at %s does not answer (%v)", file, info.API, err)
	}
	return c, nil
}

// needDaemon returns a client of the daemon that runs for the home, or an
// error saying to start one.
func needDaemon(ctx context.Context, g *globalOptions, why string) (*api.Client, error) {
	home := g.homeDir()
	c, stale := findDaemon(ctx, home)
	if c != nil {
		return c, nil
	}
	msg := fmt.Sprintf("no daemon runs for %s: start one with 'loam daemon'", home)
	if why != "" {
		msg += " " + why
	}
	if stale != nil {
		msg += fmt.Sprintf(" (%s)", stale)
	}
	return nil, errors.New(msg)
}

// directBackend works on the store opened in this process.
type directBackend struct{ n *loam.Node }

func (d directBackend) Spaces(ctx context.Context) ([]loam.SpaceInfo, error) { return d.n.Spaces(ctx) }

func (d directBackend) CreateSpace(ctx context.Context, name string, vis loam.Visibility) (loam.SpaceInfo, error) {
	sp, err := d.n.CreateSpace(ctx, name, vis)
	if err != nil {
		return loam.SpaceInfo{}, err
	}
	return d.Space(ctx, sp.ID())
}

func (d directBackend) Space(ctx context.Context, ref string) (loam.SpaceInfo, error) {
	sp, err := d.n.Space(ctx, ref)
	if err != nil {
		return loam.SpaceInfo{}, err
	}
	spaces, err := d.n.Spaces(ctx)
	if err != nil {
		return loam.SpaceInfo{}, err
	}
	for _, s := range spaces {
		if s.ID == sp.ID() {
			return s, nil
		}
	}
	return loam.SpaceInfo{ID: sp.ID(), Name: sp.Name()}, nil
}

func (d directBackend) Lookup(ctx context.Context, ref string, key []byte) (loam.KV, error) {
	sp, err := d.n.Space(ctx, ref)
	if err != nil {
		return loam.KV{}, err
	}
	return sp.Lookup(ctx, key)
}

func (d directBackend) Put(ctx context.Context, ref string, key, value []byte) error {
	sp, err := d.n.Space(ctx, ref)
	if err != nil {
		return err
	}
	return sp.Put(ctx, key, value)
}

func (d directBackend) Delete(ctx context.Context, ref string, key []byte) error {
	sp, err := d.n.Space(ctx, ref)
	if err != nil {
		return err
	}
	if _, err := sp.Lookup(ctx, key); err != nil {
		return err
	}
	return sp.Delete(ctx, key)
}

func (d directBackend) Range(ctx context.Context, ref string, q api.Query) iter.Seq2[loam.KV, error] {
	return func(yield func(loam.KV, error) bool) {
		sp, err := d.n.Space(ctx, ref)
		if err != nil {
			yield(loam.KV{}, err)
			return
		}
		var opts []loam.RangeOption
		if q.Prefix != nil {
			opts = append(opts, loam.Prefix(string(q.Prefix)))
		}
		if q.Start != nil {
			opts = append(opts, loam.Start(string(q.Start)))
		}
		if q.End != nil {
			opts = append(opts, loam.End(string(q.End)))
		}
		if q.Limit > 0 {
			opts = append(opts, loam.Limit(q.Limit))
		}
		if q.Reverse {
			opts = append(opts, loam.Reverse())
		}
		for kv, err := range sp.Range(ctx, opts...) {
			if !yield(kv, err) || err != nil {
				return
			}
		}
	}
}

func (d directBackend) Write(ctx context.Context, ref string, ws []write) error {
	sp, err := d.n.Space(ctx, ref)
	if err != nil {
		return err
	}
	b := sp.Batch()
	for _, w := range ws {
		switch {
		case w.del:
			b.Delete(w.key)
		case w.blob != nil:
			b.PutBlobRef(w.key, *w.blob)
		default:
			b.Put(w.key, w.value)
		}
	}
	return b.Commit(ctx)
}

func (d directBackend) Watch(ctx context.Context, ref string, prefix []byte) (changes, error) {
	sp, err := d.n.Space(ctx, ref)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	ch, err := sp.Watch(ctx, loam.Prefix(string(prefix)))
	if err != nil {
		cancel()
		return nil, err
	}
	return &chanChanges{ctx: ctx, cancel: cancel, ch: ch}, nil
}

func (d directBackend) Verify(ctx context.Context, ref string) (loam.VerifyReport, error) {
	sp, err := d.n.Space(ctx, ref)
	if err != nil {
		return loam.VerifyReport{}, err
	}
	return sp.Verify(ctx)
}

func (d directBackend) Members(ctx context.Context, ref string) ([]loam.Member, error) {
	sp, err := d.n.Space(ctx, ref)
	if err != nil {
		return nil, err
	}
	return sp.Members(ctx)
}

func (d directBackend) Revoke(ctx context.Context, ref, target string) (loam.Revoked, error) {
	sp, err := d.n.Space(ctx, ref)
	if err != nil {
		return loam.Revoked{}, err
	}
	return sp.Revoke(ctx, target)
}

// chanChanges reads a direct watch's channel.
type chanChanges struct {
	ctx    context.Context
	cancel context.CancelFunc
	ch     <-chan loam.Change
}

func (c *chanChanges) Next() (loam.Change, error) {
	ch, ok := <-c.ch
	if !ok {
		return loam.Change{}, c.ctx.Err()
	}
	return ch, nil
}

func (c *chanChanges) Close() {
	c.cancel()
	for range c.ch { // let the watch's goroutine finish
	}
}

// daemonBackend works through the daemon's API.
type daemonBackend struct{ c *api.Client }

func spaceInfo(in api.SpaceInfo) (loam.SpaceInfo, error) {
	t, err := api.ParseTime(in.Created)
	if err != nil {
		return loam.SpaceInfo{}, fmt.Errorf("the daemon sent a bad creation time %q: %v", in.Created, err)
	}
	return loam.SpaceInfo{ID: in.ID, Name: in.Name, Created: t}, nil
}

// kvOf converts an entry from the API.
func kvOf(e api.Entry) (loam.KV, error) {
	k, v, err := e.Bytes()
	if err != nil {
		return loam.KV{}, fmt.Errorf("the daemon sent a bad entry: %v", err)
	}
	t, err := e.ParsedTime()
	if err != nil {
		return loam.KV{}, fmt.Errorf("the daemon sent a bad time %q: %v", e.Time, err)
	}
	kv := loam.KV{Key: k, Value: v, Author: e.Author, Time: t}
	if e.Blob != nil {
		kv.Blob = &loam.BlobRef{ID: e.Blob.ID, Size: e.Blob.Size, Type: e.Blob.Type, Sealed: e.Blob.Sealed}
	}
	return kv, nil
}

func (d daemonBackend) Spaces(ctx context.Context) ([]loam.SpaceInfo, error) {
	infos, err := d.c.Spaces(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]loam.SpaceInfo, len(infos))
	for i, in := range infos {
		if out[i], err = spaceInfo(in); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (d daemonBackend) CreateSpace(ctx context.Context, name string, vis loam.Visibility) (loam.SpaceInfo, error) {
	in, err := d.c.NewSpace(ctx, api.CreateSpaceRequest{Name: name, Private: vis == loam.Private})
	if err != nil {
		return loam.SpaceInfo{}, err
	}
	return spaceInfo(in)
}

func (d daemonBackend) Space(ctx context.Context, ref string) (loam.SpaceInfo, error) {
	in, err := d.c.Space(ctx, ref)
	if err != nil {
		return loam.SpaceInfo{}, err
	}
	return spaceInfo(in)
}

func (d daemonBackend) Lookup(ctx context.Context, ref string, key []byte) (loam.KV, error) {
	e, err := d.c.Get(ctx, ref, key)
	if err != nil {
		return loam.KV{}, err
	}
	return kvOf(e)
}

func (d daemonBackend) Put(ctx context.Context, ref string, key, value []byte) error {
	return d.c.Put(ctx, ref, key, value)
}

func (d daemonBackend) Delete(ctx context.Context, ref string, key []byte) error {
	return d.c.Delete(ctx, ref, key)
}

func (d daemonBackend) Range(ctx context.Context, ref string, q api.Query) iter.Seq2[loam.KV, error] {
	return func(yield func(loam.KV, error) bool) {
		for e, err := range d.c.Range(ctx, ref, q) {
			if err != nil {
				yield(loam.KV{}, err)
				return
			}
			kv, err := kvOf(e)
			if !yield(kv, err) || err != nil {
				return
			}
		}
	}
}

func (d daemonBackend) Write(ctx context.Context, ref string, ws []write) error {
	ops := make([]api.BatchOp, len(ws))
	for i, w := range ws {
		switch {
		case w.del:
			ops[i] = api.DeleteOp(w.key)
		case w.blob != nil:
			ops[i] = api.PutOp(w.key, nil)
			ops[i].Value, ops[i].ValueB64 = nil, nil
			ops[i].Blob = &api.BlobRef{ID: w.blob.ID, Size: w.blob.Size, Type: w.blob.Type, Sealed: w.blob.Sealed}
		default:
			ops[i] = api.PutOp(w.key, w.value)
		}
	}
	_, err := d.c.Batch(ctx, ref, ops)
	return err
}

func (d daemonBackend) Watch(ctx context.Context, ref string, prefix []byte) (changes, error) {
	w, err := d.c.Watch(ctx, ref, prefix)
	if err != nil {
		return nil, err
	}
	return sseChanges{w}, nil
}

func (d daemonBackend) Verify(ctx context.Context, ref string) (loam.VerifyReport, error) {
	r, err := d.c.Verify(ctx, ref)
	if err != nil {
		return loam.VerifyReport{}, err
	}
	return loam.VerifyReport{Commits: r.Commits, Ops: r.Ops, Authors: r.Authors, Forks: r.Forks}, nil
}

func (d daemonBackend) Members(ctx context.Context, ref string) ([]loam.Member, error) {
	ms, err := d.c.Members(ctx, ref)
	if err != nil {
		return nil, err
	}
	out := make([]loam.Member, len(ms))
	for i, m := range ms {
		o := loam.Member{Author: m.Author, Invite: m.Invite, Role: loam.Role(m.Role), Joined: m.Joined, Grants: []loam.MemberGrant{}}
		for _, g := range m.Grants {
			o.Grants = append(o.Grants, loam.MemberGrant{Role: loam.Role(g.Role), Prefix: g.Prefix, Expires: g.Expires, Uses: g.Uses, GrantedBy: g.GrantedBy, Since: g.Since, Via: g.Via})
		}
		if m.Revoked != nil {
			o.Revoked = &loam.Revocation{By: m.Revoked.By, At: m.Revoked.At, LastSeq: m.Revoked.LastSeq}
		}
		o.ForkedAt = m.ForkedAt
		out[i] = o
	}
	return out, nil
}

func (d daemonBackend) Revoke(ctx context.Context, ref, target string) (loam.Revoked, error) {
	r, err := d.c.Revoke(ctx, ref, target)
	if err != nil {
		return loam.Revoked{}, err
	}
	return loam.Revoked{Author: r.Author, Invite: r.Invite, LastSeq: r.LastSeq, Epoch: r.Epoch}, nil
}

// sseChanges reads a watch from the daemon.
type sseChanges struct{ w *api.Watcher }

func (s sseChanges) Next() (loam.Change, error) {
	e, err := s.w.Next()
	if err != nil {
		return loam.Change{}, err
	}
	if e.Op == api.OpResync {
		return loam.Change{Resync: true}, nil
	}
	kv, err := kvOf(e)
	if err != nil {
		return loam.Change{}, err
	}
	return loam.Change{Key: kv.Key, Value: kv.Value, Deleted: e.Op == api.OpDel, Author: kv.Author, Time: kv.Time}, nil
}

func (s sseChanges) Close() { s.w.Close() }
