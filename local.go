package loam

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"time"

	"github.com/loamdb/loam/internal/api"
	"github.com/loamdb/loam/internal/blob"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/node"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/view"
)

// localNode is a Node on a store opened in this process.
type localNode struct{ n *node.Node }

func (l localNode) close() error    { return l.n.Close() }
func (l localNode) home() string    { return l.n.Home() }
func (l localNode) author() string  { return l.n.Author().String() }
func (l localNode) peerID() string  { return l.n.PeerID() }
func (l localNode) addrs() []string { return l.n.Addrs() }

func (l localNode) wrap(ctx context.Context, sp *space.Space) *localSpace {
	in := sp.Info()
	private, _ := l.n.IsPrivate(ctx, sp.ID())
	return &localSpace{n: l.n, sp: sp, in: SpaceInfo{ID: in.ID.String(), Name: in.Name, Created: in.Created, Private: private}}
}

func (l localNode) createSpace(ctx context.Context, name string, vis Visibility) (spaceImpl, error) {
	sp, err := l.n.NewSpace(ctx, name, node.SpaceOptions{Private: vis == Private})
	if err != nil {
		return nil, err
	}
	return l.wrap(ctx, sp), nil
}

func (l localNode) space(ctx context.Context, ref string) (spaceImpl, error) {
	sp, err := l.n.Space(ctx, ref)
	if err != nil {
		return nil, err
	}
	return l.wrap(ctx, sp), nil
}

func (l localNode) spaces(ctx context.Context) ([]SpaceInfo, error) {
	infos, err := l.n.Spaces(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]SpaceInfo, len(infos))
	for i, in := range infos {
		private, _ := l.n.IsPrivate(ctx, in.ID)
		out[i] = SpaceInfo{ID: in.ID.String(), Name: in.Name, Created: in.Created, Private: private}
	}
	return out, nil
}

func (l localNode) join(ctx context.Context, ticket string) (spaceImpl, error) {
	t, err := keys.ParseTicket(ticket)
	if err != nil {
		return nil, err
	}
	sp, err := l.n.Join(ctx, t)
	if err != nil {
		return nil, err
	}
	return l.wrap(ctx, sp), nil
}

func (l localNode) connect(ctx context.Context, addr string) error {
	_, err := l.n.Connect(ctx, addr)
	return err
}

func (l localNode) peers(context.Context) ([]PeerInfo, error) {
	out := []PeerInfo{}
	for _, p := range l.n.Peers() {
		pi := PeerInfo{Peer: p.PeerID, Author: p.ID.String(), Addrs: p.Addrs, Direct: p.Direct, Connected: p.Connected,
			BytesIn: p.BytesIn, BytesOut: p.BytesOut, LastSeen: p.LastSeen}
		for _, s := range p.Spaces {
			pi.Spaces = append(pi.Spaces, s.String())
		}
		out = append(out, pi)
	}
	return out, nil
}

func (l localNode) refusals(context.Context) (map[string]uint64, error) {
	return l.n.Counters().Misbehaving, nil
}

func (l localNode) addBlob(ctx context.Context, r io.Reader) (BlobInfo, error) {
	id, m, err := l.n.AddBlob(ctx, r)
	if err != nil {
		return BlobInfo{}, err
	}
	return BlobInfo(api.AddedBlobOf(id, m)), nil
}

func (l localNode) fetchBlob(ctx context.Context, id string, progress func(BlobProgress)) (FetchStats, error) {
	b, err := parseBlobID(id)
	if err != nil {
		return FetchStats{}, err
	}
	var o blob.FetchOptions
	if progress != nil {
		o.Progress = func(p blob.Progress) {
			progress(BlobProgress{Done: p.Done, Total: p.Total, Peers: p.Sources()})
		}
	}
	st, err := l.n.FetchBlob(ctx, b, nil, o)
	if err != nil {
		return FetchStats{}, err
	}
	return fetchStatsOf(api.FetchStatsOf(st)), nil
}

func (l localNode) openBlob(ctx context.Context, id string) (blobReader, error) {
	b, err := parseBlobID(id)
	if err != nil {
		return nil, err
	}
	if _, err := l.n.EnsureBlob(ctx, b, blob.FetchOptions{}); err != nil {
		return nil, err
	}
	return l.n.OpenBlob(b)
}

func (l localNode) blobs(ctx context.Context) ([]BlobInfo, error) {
	infos, err := l.n.BlobInfos(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]BlobInfo, len(infos))
	for i, b := range infos {
		out[i] = BlobInfo(api.BlobInfoOf(b))
	}
	return out, nil
}

func (l localNode) setPin(_ context.Context, id string, on bool) error {
	b, err := parseBlobID(id)
	if err != nil {
		return err
	}
	return l.n.SetPin(b, on)
}

func (l localNode) gcBlobs(ctx context.Context) (int64, error) { return l.n.GCBlobs(ctx) }

// localSpace is a Space of a localNode.
type localSpace struct {
	n  *node.Node
	sp *space.Space
	in SpaceInfo
}

func (s *localSpace) info() SpaceInfo { return s.in }

func toKV(key []byte, e view.Entry) KV { return toKVNamed(key, e, nil) }

// toKVNamed is toKV taking the author's text from names, which keeps the
// last one it formatted: the keys of a range are mostly one author's, and
// formatting its ID for each was a tenth of a range's CPU (#16).
func toKVNamed(key []byte, e view.Entry, names *authorName) KV {
	var author string
	if names != nil {
		author = names.of(e.Author)
	} else {
		author = e.Author.String()
	}
	kv := KV{Key: key, Value: e.Value, Author: author, Time: e.Time.Time(), Erased: e.Erased}
	if e.Author.IsZero() {
		kv.Author, kv.Time = "", time.Time{}
	}
	if e.Kind == commit.KindPutBlob && !e.Erased {
		kv.Value = nil
		if r, ok := node.RefOf(e); ok {
			kv.Blob = refOf(r)
		} else {
			kv.Blob = &BlobRef{} // a reference that does not decode: no blob to read
		}
	}
	return kv
}

// authorName is the text of the last author ID it was asked for.
type authorName struct {
	id   keys.AuthorID
	text string
}

func (a *authorName) of(id keys.AuthorID) string {
	if a.text == "" || a.id != id {
		a.id, a.text = id, id.String()
	}
	return a.text
}

func (s *localSpace) lookup(ctx context.Context, key []byte) (KV, error) {
	e, err := s.sp.Get(ctx, key)
	if err == nil && e.Erased {
		err = s.sp.Erasure(ctx, key, e)
	}
	if err != nil {
		return KV{}, err
	}
	return toKV(key, e), nil
}

func (s *localSpace) setRetention(ctx context.Context, r commit.Retention) error {
	if err := s.sp.SetRetention(ctx, r); err != nil {
		return err
	}
	_, err := s.n.ApplyRetention(ctx) // this process may exit next
	if err == nil {
		_, err = s.n.CollectErased(ctx)
	}
	return err
}

func (s *localSpace) retention(ctx context.Context) (commit.Retention, error) {
	return s.sp.Retention(ctx)
}

func (s *localSpace) declareRules(ctx context.Context, sc commit.Schema) (commit.Schema, error) {
	return s.sp.DeclareRules(ctx, sc)
}

func (s *localSpace) rules(ctx context.Context) ([]commit.Schema, error) { return s.sp.Rules(ctx) }

func (s *localSpace) erase(ctx context.Context, key []byte, o space.EraseOptions) (int, error) {
	n, err := s.sp.EraseWith(ctx, key, o)
	if err == nil {
		_, err = s.n.CollectErased(ctx) // free the blobs now: this process may exit next
	}
	return n, err
}

func (s *localSpace) commit(ctx context.Context, ops []commit.Op) error {
	_, err := s.sp.Commit(ctx, ops)
	return err
}

func (s *localSpace) scan(ctx context.Context, q rangeQuery) iter.Seq2[KV, error] {
	sq := store.Query{Prefix: q.prefix, Start: q.start, End: q.end, Limit: q.limit, Reverse: q.reverse}
	return func(yield func(KV, error) bool) {
		var names authorName
		for kv, err := range s.sp.Range(ctx, sq) {
			if err != nil {
				yield(KV{}, err)
				return
			}
			if !yield(toKVNamed(kv.Key, kv.Entry, &names), nil) {
				return
			}
		}
	}
}

func (s *localSpace) watch(ctx context.Context, q watchQuery) (<-chan Change, error) {
	if err := s.n.Closed(); err != nil {
		return nil, err
	}
	in := s.n.Hub().Watch(ctx, s.sp.ID(), q.prefix)
	out := make(chan Change)
	go func() {
		defer close(out)
		for ev := range in {
			var ch Change
			if ev.Resync {
				ch.Resync = true
			} else {
				c := ev.Change
				if !q.match(c.Key) {
					continue
				}
				ch = Change{Key: c.Key, Deleted: c.Entry.Tombstone(), Erased: c.Entry.Erased}
				if !c.Entry.Author.IsZero() {
					ch.Author, ch.Time = c.Entry.Author.String(), c.Entry.Time.Time()
				}
				if !ch.Deleted {
					ch.Value = c.Entry.Value
				}
			}
			select {
			case out <- ch:
			case <-ctx.Done():
				for range in { // let the hub's goroutine finish
				}
				return
			}
		}
	}()
	return out, nil
}

func (s *localSpace) conflicts(ctx context.Context, key []byte) ([]KV, error) {
	es, err := s.sp.Conflicts(ctx, key)
	if err != nil {
		return nil, err
	}
	out := make([]KV, 0, len(es))
	for _, e := range es {
		kv := toKV(key, e)
		if e.Tombstone() {
			kv.Value = nil
		}
		out = append(out, kv)
	}
	return out, nil
}

func (s *localSpace) state(ctx context.Context) (State, error) {
	v, err := s.sp.View(ctx)
	if err != nil {
		return State{}, err
	}
	return State{Hash: v.Hash.String(), Keys: v.Visible}, nil
}

func (s *localSpace) verify(ctx context.Context) (VerifyReport, error) {
	r, err := space.VerifyLog(ctx, s.n.Store(), s.sp.ID())
	rep := VerifyReport(r)
	if err != nil && !errors.Is(err, ErrInvalidLog) {
		return rep, fmt.Errorf("loam: verify: %w", err)
	}
	return rep, err
}

func (s *localSpace) heads(ctx context.Context) ([]Head, error) {
	hs, err := s.n.Store().Heads(ctx, s.sp.ID())
	if err != nil {
		return nil, err
	}
	out := make([]Head, len(hs))
	for i, h := range hs {
		out[i] = Head{Author: h.Author.String(), Seq: h.Seq, Commit: h.ID.String(), Time: h.Time.Time()}
	}
	return out, nil
}

func (s *localSpace) role(ctx context.Context) (Role, error) {
	r, err := s.n.Store().Role(ctx, s.sp.ID(), s.sp.Author())
	if err != nil || r == 0 {
		return "", err
	}
	return Role(r.String()), nil
}

func (s *localSpace) putBlob(ctx context.Context, key []byte, r io.Reader, mediaType string) (BlobRef, error) {
	ref, _, err := s.n.PutBlob(ctx, s.sp, key, r, mediaType)
	if err != nil {
		return BlobRef{}, err
	}
	return *refOf(ref), nil
}

func (s *localSpace) openBlob(ctx context.Context, key []byte) (blobReader, error) {
	e, err := s.sp.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	r, ok := node.RefOf(e)
	if !ok {
		if e.Kind == commit.KindPutBlob {
			return nil, brokenRef(key)
		}
		return nil, notBlob(key)
	}
	return s.n.OpenRef(ctx, s.sp.ID(), r)
}

func (s *localSpace) invite(ctx context.Context, role Role, expires time.Duration, uses uint32) (string, error) {
	r, err := commit.ParseRole(string(role))
	if err != nil {
		return "", err
	}
	t, err := s.n.NewInvite(ctx, s.in.ID, node.InviteOptions{Role: r, Expires: expires, Uses: uses})
	if err != nil {
		return "", err
	}
	return t.String(), nil
}

func (s *localSpace) members(ctx context.Context) ([]Member, error) {
	ms, ps, err := s.n.Roster(ctx, s.in.ID)
	if err != nil {
		return nil, err
	}
	return membersOf(api.MembersOf(ms, ps)), nil
}

func (s *localSpace) revoke(ctx context.Context, target string) (Revoked, error) {
	r, err := s.n.Revoke(ctx, s.in.ID, target)
	if err != nil {
		return Revoked{}, err
	}
	return revokedOf(api.RevokedOf(r)), nil
}

func (s *localSpace) waitSynced(ctx context.Context) error { return s.n.WaitSynced(ctx, s.sp.ID()) }

func (s *localSpace) ledger(ctx context.Context) (api.Ledger, error) { // energy.go
	ms, ps, err := s.n.Roster(ctx, s.in.ID)
	if err != nil {
		return api.Ledger{}, err
	}
	return api.LedgerOf(ctx, s.sp, ms, ps)
}
