package loam

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/loamdb/loam/internal/api"
	"github.com/loamdb/loam/internal/blob"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
)

// Errors of Connect.
var (
	// ErrNoDaemon: no daemon answers for the home (no daemon.json there,
	// or one whose daemon does not answer: then the error also wraps
	// ErrStaleDaemon). Open the store instead.
	ErrNoDaemon = errors.New("no daemon runs for the home")
	// ErrStaleDaemon: the home's daemon.json names a daemon that does not
	// answer (it crashed, or the file is not a daemon's); the error says
	// why. It comes with ErrNoDaemon.
	ErrStaleDaemon = errors.New("the daemon named in daemon.json does not answer")
)

// noDaemonError is an error of Connect that wraps ErrNoDaemon and, when
// stale, ErrStaleDaemon.
type noDaemonError struct {
	msg   string
	stale bool
}

func (e *noDaemonError) Error() string { return e.msg }
func (e *noDaemonError) Is(target error) bool {
	return target == ErrNoDaemon || e.stale && target == ErrStaleDaemon
}

// probeTimeout bounds Connect's wait for the daemon to answer.
const probeTimeout = 3 * time.Second

// Connect returns a Node that works through the daemon running for home
// ("" means DefaultHome): the one daemon.json names, reached with the
// home's API token. It fails with an error wrapping ErrNoDaemon when no
// daemon answers (and ErrStaleDaemon when daemon.json is there but its
// daemon does not answer, saying why): open the store with Open then.
func Connect(ctx context.Context, home string) (*Node, error) {
	if home == "" {
		home = DefaultHome()
	}
	file := filepath.Join(home, api.DaemonFile)
	c, info, err := api.ClientForHome(home)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && info.API == "" {
			return nil, &noDaemonError{msg: fmt.Sprintf("no daemon runs for %s (no %s): start one with 'loam daemon'", home, api.DaemonFile)}
		}
		return nil, &noDaemonError{msg: fmt.Sprintf("ignoring %s: %v", file, err), stale: true}
	}
	c.HTTP = api.NewHTTPClient() // its own connections, closed by Close
	rn := &remoteNode{c: c, homeDir: home, addrList: info.Addrs, done: make(chan struct{})}
	c.HTTP.Transport = closingTransport{c.HTTP.Transport, &rn.closed}
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	h, err := c.Hello(pctx)
	if err != nil {
		c.HTTP.CloseIdleConnections()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &noDaemonError{msg: fmt.Sprintf("ignoring %s: the daemon it names at %s does not answer (%v)", file, info.API, err), stale: true}
	}
	rn.hello = h
	return &Node{impl: rn}, nil
}

// closingTransport refuses requests once closed is set, so a closed Node
// of Connect fails with ErrClosed as a closed embedded one does.
type closingTransport struct {
	http.RoundTripper
	closed *atomic.Bool
}

func (t closingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.closed.Load() {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, fmt.Errorf("loam: %w", ErrClosed)
	}
	return t.RoundTripper.RoundTrip(r)
}

// remoteNode is a Node that works through a daemon's API.
type remoteNode struct {
	c        *api.Client
	homeDir  string
	hello    api.Hello
	addrList []string
	closed   atomic.Bool
	done     chan struct{} // closed by close: ends the watches
}

func (r *remoteNode) close() error {
	if !r.closed.Swap(true) {
		close(r.done)
	}
	r.c.HTTP.CloseIdleConnections()
	return nil
}

func (r *remoteNode) home() string    { return r.homeDir }
func (r *remoteNode) author() string  { return r.hello.Author }
func (r *remoteNode) peerID() string  { return r.hello.Peer }
func (r *remoteNode) addrs() []string { return r.addrList }

// spaceInfoOf converts the API's description of a space.
func spaceInfoOf(in api.SpaceInfo) (SpaceInfo, error) {
	t, err := api.ParseTime(in.Created)
	if err != nil {
		return SpaceInfo{}, fmt.Errorf("the daemon sent a bad creation time %q: %v", in.Created, err)
	}
	return SpaceInfo{ID: in.ID, Name: in.Name, Created: t, Private: in.Private}, nil
}

func (r *remoteNode) wrap(in api.SpaceInfo, err error) (spaceImpl, error) {
	if err != nil {
		return nil, err
	}
	info, err := spaceInfoOf(in)
	if err != nil {
		return nil, err
	}
	return &remoteSpace{c: r.c, in: info, done: r.done}, nil
}

func (r *remoteNode) createSpace(ctx context.Context, name string, vis Visibility) (spaceImpl, error) {
	return r.wrap(r.c.NewSpace(ctx, api.CreateSpaceRequest{Name: name, Private: vis == Private}))
}

func (r *remoteNode) space(ctx context.Context, ref string) (spaceImpl, error) {
	return r.wrap(r.c.Space(ctx, ref))
}

func (r *remoteNode) spaces(ctx context.Context) ([]SpaceInfo, error) {
	infos, err := r.c.Spaces(ctx)
	return convertAll(infos, err, spaceInfoOf)
}

// convertAll converts each of the daemon's answers in with f; it returns
// err, the request's error, or the first of f's.
func convertAll[A, B any](in []A, err error, f func(A) (B, error)) ([]B, error) {
	if err != nil {
		return nil, err
	}
	out := make([]B, len(in))
	for i, a := range in {
		if out[i], err = f(a); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// timeOf parses a time the daemon sent.
func timeOf(s string) (time.Time, error) {
	t, err := api.ParseTime(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("the daemon sent a bad time %q: %v", s, err)
	}
	return t, nil
}

func (r *remoteNode) join(ctx context.Context, ticket string) (spaceImpl, error) {
	return r.wrap(r.c.Join(ctx, ticket))
}

func (r *remoteNode) connect(ctx context.Context, addr string) error {
	_, err := r.c.Connect(ctx, addr)
	return err
}

func (r *remoteNode) peers(ctx context.Context) ([]PeerInfo, error) {
	ps, err := r.c.Peers(ctx)
	return convertAll(ps, err, func(p api.Peer) (PeerInfo, error) {
		seen, err := timeOf(p.LastSeen)
		return PeerInfo{Peer: p.Peer, Author: p.Author, Addrs: p.Addrs, Direct: p.Direct, Connected: p.Connected,
			Spaces: p.Spaces, BytesIn: p.BytesIn, BytesOut: p.BytesOut, LastSeen: seen}, err
	})
}

func (r *remoteNode) refusals(ctx context.Context) (map[string]uint64, error) {
	st, err := r.c.Status(ctx)
	return st.Refusals, err
}

func blobInfoOf(b api.BlobInfo) BlobInfo {
	return BlobInfo(b)
}

func (r *remoteNode) addBlob(ctx context.Context, rd io.Reader) (BlobInfo, error) {
	b, err := r.c.AddBlob(ctx, rd)
	if err != nil {
		return BlobInfo{}, err
	}
	return blobInfoOf(b), nil
}

func (r *remoteNode) fetchBlob(ctx context.Context, id string, progress func(BlobProgress)) (FetchStats, error) {
	var p func(api.FetchEvent)
	if progress != nil {
		p = func(ev api.FetchEvent) { progress(BlobProgress{Done: ev.Done, Total: ev.Total, Peers: ev.Peers}) }
	}
	st, err := r.c.FetchBlob(ctx, id, p)
	if err != nil {
		return FetchStats{}, err
	}
	return fetchStatsOf(st), nil
}

// fetchStatsOf converts the API's sum of a download, embedded and through
// a daemon alike (api.FetchStatsOf makes it from the node's).
func fetchStatsOf(st *api.FetchStats) FetchStats {
	return FetchStats{Fetched: st.Fetched, Peers: st.Peers, Corrupt: st.Corrupt}
}

func (r *remoteNode) openBlob(ctx context.Context, id string) (blobReader, error) {
	return openRemote(ctx, -1, func(ctx context.Context, off, n int64) (io.ReadCloser, int64, error) {
		return r.c.OpenBlobRange(ctx, id, off, n)
	})
}

func (r *remoteNode) blobs(ctx context.Context) ([]BlobInfo, error) {
	bs, err := r.c.Blobs(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]BlobInfo, len(bs))
	for i, b := range bs {
		out[i] = blobInfoOf(b)
	}
	return out, nil
}

func (r *remoteNode) setPin(ctx context.Context, id string, on bool) error {
	if on {
		return r.c.PinBlob(ctx, id)
	}
	return r.c.UnpinBlob(ctx, id)
}

func (r *remoteNode) gcBlobs(ctx context.Context) (int64, error) { return r.c.GCBlobs(ctx) }

// remoteSpace is a Space of a remoteNode. It names the space by ID.
type remoteSpace struct {
	c    *api.Client
	in   SpaceInfo
	done <-chan struct{} // closed by the node's Close
}

func (s *remoteSpace) info() SpaceInfo { return s.in }

// kvOf converts an entry from the API.
func kvOf(e api.Entry) (KV, error) {
	k, v, err := e.Bytes()
	if err != nil {
		return KV{}, fmt.Errorf("the daemon sent a bad entry: %v", err)
	}
	t, err := e.ParsedTime()
	if err != nil {
		return KV{}, fmt.Errorf("the daemon sent a bad time %q: %v", e.Time, err)
	}
	kv := KV{Key: k, Value: v, Author: e.Author, Time: t, Erased: e.Erased}
	if e.Blob != nil {
		kv.Value = nil
		kv.Blob = &BlobRef{ID: e.Blob.ID, Size: e.Blob.Size, Type: e.Blob.Type, Sealed: e.Blob.Sealed}
	}
	return kv, nil
}

func (s *remoteSpace) setRetention(ctx context.Context, r commit.Retention) error {
	return s.c.SetRetention(ctx, s.in.ID, api.RetentionOf(r))
}

func (s *remoteSpace) retention(ctx context.Context) (commit.Retention, error) {
	b, err := s.c.Retention(ctx, s.in.ID)
	if err != nil {
		return commit.Retention{}, err
	}
	return b.Policy()
}

func (s *remoteSpace) declareRules(ctx context.Context, sc commit.Schema) (commit.Schema, error) {
	out, err := s.c.DeclareRules(ctx, s.in.ID, api.RulesOf(sc))
	if err != nil {
		return sc, err
	}
	return commit.Schema{App: out.App, Version: out.Version, Body: out.Body}, nil
}

func (s *remoteSpace) rules(ctx context.Context) ([]commit.Schema, error) {
	bs, err := s.c.Rules(ctx, s.in.ID)
	var out []commit.Schema
	for _, b := range bs {
		out = append(out, commit.Schema{App: b.App, Version: b.Version, Body: b.Body})
	}
	return out, err
}

func (s *remoteSpace) erase(ctx context.Context, key []byte, o space.EraseOptions) (int, error) {
	out, err := s.c.Erase(ctx, s.in.ID, key, o.Prefix, o.Superseded)
	return out.Erased, err
}

func (s *remoteSpace) lookup(ctx context.Context, key []byte) (KV, error) {
	e, err := s.c.Get(ctx, s.in.ID, key)
	if err != nil {
		return KV{}, err
	}
	return kvOf(e)
}

func (s *remoteSpace) commit(ctx context.Context, ops []commit.Op) error {
	out := make([]api.BatchOp, len(ops))
	for i, o := range ops {
		switch o.Kind {
		case commit.KindDel:
			out[i] = api.DeleteOp(o.Key)
		case commit.KindPutBlob:
			r, err := blob.DecodeRef(o.Payload)
			if err != nil {
				return fmt.Errorf("loam: write %d: %w", i+1, err)
			}
			out[i] = api.PutOp(o.Key, nil)
			out[i].Value, out[i].ValueB64 = nil, nil
			out[i].Blob = &api.BlobRef{ID: r.ID.String(), Size: r.Size, Type: r.Type}
		default:
			out[i] = api.PutOp(o.Key, o.Payload)
		}
	}
	_, err := s.c.Batch(ctx, s.in.ID, out)
	return err
}

func (s *remoteSpace) scan(ctx context.Context, q rangeQuery) iter.Seq2[KV, error] {
	aq := store.Query{Prefix: q.prefix, Start: q.start, End: q.end, Limit: q.limit, Reverse: q.reverse}
	return func(yield func(KV, error) bool) {
		for e, err := range s.c.Range(ctx, s.in.ID, aq) {
			if err != nil {
				yield(KV{}, err)
				return
			}
			kv, err := kvOf(e)
			if !yield(kv, err) || err != nil {
				return
			}
		}
	}
}

func (s *remoteSpace) watch(ctx context.Context, q watchQuery) (<-chan Change, error) {
	ctx, cancel := context.WithCancel(ctx)
	w, err := s.c.Watch(ctx, s.in.ID, q.prefix)
	if err != nil {
		cancel()
		return nil, err
	}
	out := make(chan Change)
	go func() {
		defer close(out)
		defer cancel()
		defer w.Close()
		go func() { // the node's Close ends the watch, as an embedded node's does
			select {
			case <-s.done:
				cancel()
			case <-ctx.Done():
			}
		}()
		for {
			e, err := w.Next()
			if err != nil {
				return // ctx ended, or the daemon ended the watch
			}
			var ch Change
			if e.Op == api.OpResync {
				ch.Resync = true
			} else {
				kv, err := kvOf(e)
				if err != nil {
					return
				}
				if !q.match(kv.Key) {
					continue
				}
				ch = Change{Key: kv.Key, Value: kv.Value, Deleted: e.Op == api.OpDel, Erased: kv.Erased, Author: kv.Author, Time: kv.Time}
			}
			select {
			case out <- ch:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

func (s *remoteSpace) conflicts(ctx context.Context, key []byte) ([]KV, error) {
	es, err := s.c.Conflicts(ctx, s.in.ID, key)
	return convertAll(es, err, kvOf)
}

func (s *remoteSpace) state(ctx context.Context) (State, error) {
	st, err := s.c.State(ctx, s.in.ID)
	return State{Hash: st.ViewHash, Keys: st.Keys}, err
}

func (s *remoteSpace) verify(ctx context.Context) (VerifyReport, error) {
	r, err := s.c.Verify(ctx, s.in.ID)
	return VerifyReport(r), err
}

func (s *remoteSpace) heads(ctx context.Context) ([]Head, error) {
	hs, err := s.c.Heads(ctx, s.in.ID)
	return convertAll(hs, err, func(h api.Head) (Head, error) {
		t, err := timeOf(h.Time)
		return Head{Author: h.Author, Seq: h.Seq, Commit: h.Commit, Time: t}, err
	})
}

func (s *remoteSpace) role(ctx context.Context) (Role, error) {
	st, err := s.c.State(ctx, s.in.ID)
	return Role(st.Role), err
}

func (s *remoteSpace) putBlob(ctx context.Context, key []byte, r io.Reader, mediaType string) (BlobRef, error) {
	ref, err := s.c.PutBlob(ctx, s.in.ID, key, r, mediaType)
	if err != nil {
		return BlobRef{}, err
	}
	return BlobRef{ID: ref.ID, Size: ref.Size, Type: ref.Type, Sealed: ref.Sealed}, nil
}

func (s *remoteSpace) openBlob(ctx context.Context, key []byte) (blobReader, error) {
	kv, err := s.lookup(ctx, key)
	if err != nil {
		return nil, err
	}
	switch {
	case kv.Blob == nil:
		return nil, notBlob(key)
	case kv.Blob.ID == "":
		return nil, brokenRef(key)
	}
	return openRemote(ctx, kv.Blob.Size, func(ctx context.Context, off, n int64) (io.ReadCloser, int64, error) {
		return s.c.GetRawRange(ctx, s.in.ID, key, off, n)
	})
}

func (s *remoteSpace) invite(ctx context.Context, role Role, expires time.Duration, uses uint32) (string, error) {
	return s.c.InviteUses(ctx, s.in.ID, string(role), expires, uses)
}

func (s *remoteSpace) members(ctx context.Context) ([]Member, error) {
	ms, err := s.c.Members(ctx, s.in.ID)
	if err != nil {
		return nil, err
	}
	return membersOf(ms), nil
}

func (s *remoteSpace) revoke(ctx context.Context, target string) (Revoked, error) {
	r, err := s.c.Revoke(ctx, s.in.ID, target)
	if err != nil {
		return Revoked{}, err
	}
	return revokedOf(r), nil
}

func (s *remoteSpace) waitSynced(ctx context.Context) error { return s.c.WaitSynced(ctx, s.in.ID) }

func (s *remoteSpace) ledger(ctx context.Context) (api.Ledger, error) { // energy.go
	return s.c.Ledger(ctx, s.in.ID)
}
