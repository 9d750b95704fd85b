package snapshot

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/view"
)

// Snapshot is what a checkpoint at frontier F vouches for: its fields
// (Checkpoint), its sections, and the kept commits.
type Snapshot struct {
	Checkpoint commit.Checkpoint
	Sections   Sections
	Kept       []*commit.Commit // in (author, seq) order, as the kept section names them
}

// ErrUnsupported is returned for a space a checkpoint cannot summarize in
// this version: a private space (its cells would be in the clear), or one
// with a forked author (fork evidence is not kept yet).
var ErrUnsupported = errors.New("snapshot: not supported")

// FromStore returns the snapshot of a space at the store's own heads,
// read from the store's rows without a replay. The space must not change
// while it runs (the store's reads are not one snapshot).
func FromStore(ctx context.Context, st *store.Store, sp keys.SpaceID) (*Snapshot, error) {
	heads, err := st.Heads(ctx, sp)
	if err != nil {
		return nil, err
	}
	f := make([]commit.FrontierHead, len(heads))
	for i, h := range heads {
		f[i] = commit.FrontierHead{Author: h.Author, Seq: h.Seq, ID: h.ID, Time: h.Time}
	}
	s, err := load(ctx, st, sp, f)
	if err != nil {
		return nil, err
	}
	return s.compute(ctx, st)
}

// Build returns the snapshot of a space at frontier f: it replays S(f),
// the commits of st with seq ≤ f[author] (f's head IDs among them), into
// a store in memory, in causal order, and reads the sections there. Only
// the erases of S(f) count: a write whose payload st dropped later (a
// later erase, retention) is live at f, with its op digest. But S(f)'s
// commits are decided as st decides them: an app rule does not check the
// value of a write that any erase st holds names, after f or voided
// included (store/erasetargets.go), so the replay is given those writes
// erased. It fails when st does not hold S(f) or S(f) is not closed under
// causality (a commit of it depends on one outside).
func Build(ctx context.Context, st *store.Store, sp keys.SpaceID, f []commit.FrontierHead) (*Snapshot, error) {
	k := commit.Checkpoint{Frontier: f}
	if err := k.Validate(); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	s, err := load(ctx, st, sp, f)
	if err != nil {
		return nil, err
	}
	replay, err := store.Open("/replay", store.Options{FS: vfs.NewMem(), NoSync: true, CacheSize: 8 << 20})
	if err != nil {
		return nil, fmt.Errorf("snapshot: replay store: %w", err)
	}
	defer replay.Close()
	named, err := st.EraseTargets(ctx, sp)
	if err != nil {
		return nil, err
	}
	order := make([]*commit.Commit, len(s.order))
	for i, c := range s.order {
		if order[i], err = erasedAsNamed(c, named); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(order, func(a, b *commit.Commit) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		if c := bytes.Compare(a.Author[:], b.Author[:]); c != 0 {
			return c
		}
		return cmp.Compare(a.Seq, b.Seq)
	})
	if err := replay.CreateSpace(ctx, "replay", s.genesis); err != nil {
		return nil, fmt.Errorf("snapshot: replay: %w", err)
	}
	const chunk = 512
	for i := 0; i < len(order); i += chunk {
		if _, err := replay.Apply(ctx, sp, order[i:min(i+chunk, len(order))]); err != nil {
			return nil, fmt.Errorf("snapshot: replay: %w", err)
		}
	}
	heads, err := replay.Heads(ctx, sp)
	if err != nil {
		return nil, fmt.Errorf("snapshot: replay: %w", err)
	}
	if len(heads) != len(f) {
		return nil, fmt.Errorf("snapshot: the replay of S(F) ends with %d authors, the frontier has %d: S(F) is not closed under causality", len(heads), len(f))
	}
	for i, h := range heads {
		if h.Author != f[i].Author || h.Seq != f[i].Seq || h.ID != f[i].ID {
			return nil, fmt.Errorf("snapshot: the replay of S(F) ends at %s seq %d, the frontier names seq %d: S(F) is not closed under causality", h.Author.Short(), h.Seq, f[i].Seq)
		}
	}
	return s.compute(ctx, replay)
}

// erasedAsNamed returns c with the payloads of the ops that an erase in
// named names erased, so that the replay decides c as the source does
// whether or not the source still holds those payloads.
func erasedAsNamed(c *commit.Commit, named map[acl.EraseTarget]bool) (*commit.Commit, error) {
	for i, o := range c.Ops {
		if o.Erased || !o.Kind.Erasable() || !named[acl.EraseTarget{ID: c.ID, Op: uint32(i)}] {
			continue
		}
		var err error
		if c, err = c.Erase(i); err != nil {
			return nil, fmt.Errorf("snapshot: %s seq %d: %w", c.Author.Short(), c.Seq, err)
		}
	}
	return c, nil
}

// sf is S(F) as read from a store.
type sf struct {
	sp       keys.SpaceID
	frontier []commit.FrontierHead
	idx      map[keys.AuthorID]int
	at       map[locOf]*commit.Commit
	order    []*commit.Commit // (author, seq) order
	genesis  *commit.Commit
	gains    map[keys.AuthorID][]store.GainRow // of S(F), by seq
	eras     map[opAt][]*commit.Commit         // the erase commits of S(F) naming each op
}

// load reads S(f) from st: every commit of each author of f up to its
// seq, which must all be held, the last being f's.
func load(ctx context.Context, st *store.Store, sp keys.SpaceID, f []commit.FrontierHead) (*sf, error) {
	forks, err := st.Forks(ctx, sp)
	if err != nil {
		return nil, err
	}
	if len(forks) > 0 {
		return nil, fmt.Errorf("%w: %s forked; a checkpoint does not keep fork evidence yet", ErrUnsupported, forks[0].A.Author.Short())
	}
	s := &sf{sp: sp, frontier: f, idx: make(map[keys.AuthorID]int, len(f)), at: map[locOf]*commit.Commit{}}
	for i, h := range f {
		s.idx[h.Author] = i
		next := uint64(1)
		for sc, err := range st.Commits(ctx, sp, h.Author, 1) {
			if err != nil {
				return nil, err
			}
			if sc.Seq > h.Seq {
				break
			}
			if sc.Seq != next {
				return nil, fmt.Errorf("snapshot: %s's seq %d is not held: S(F) is not here", h.Author.Short(), next)
			}
			c, err := commit.Decode(sc.Bytes)
			if err != nil {
				return nil, fmt.Errorf("snapshot: stored commit %s seq %d: %w", h.Author.Short(), sc.Seq, err)
			}
			s.at[locOf{c.Author, c.Seq}] = c
			s.order = append(s.order, c)
			next++
		}
		if next != h.Seq+1 {
			return nil, fmt.Errorf("snapshot: %s's seq %d is not held: S(F) is not here", h.Author.Short(), next)
		}
		if c := s.at[locOf{h.Author, h.Seq}]; c.ID != h.ID || c.Time != h.Time {
			return nil, fmt.Errorf("snapshot: %s's seq %d here is %s at %v, the frontier names %s at %v", h.Author.Short(), h.Seq, c.ID.Short(), c.Time, h.ID.Short(), h.Time)
		}
	}
	s.genesis = s.at[locOf{keys.AuthorID(sp), 1}]
	if s.genesis == nil {
		return nil, fmt.Errorf("snapshot: the frontier does not include the genesis")
	}
	for _, o := range s.genesis.Ops {
		if o.Kind == commit.KindRotate {
			return nil, fmt.Errorf("%w: a private space's cells would be in the clear", ErrUnsupported)
		}
	}
	return s, nil
}

// compute reads the sections of S(F) from src, a store whose state is
// S(F)'s: the replay, or the store itself when its heads are F.
func (s *sf) compute(ctx context.Context, src *store.Store) (*Snapshot, error) {
	// The view at F is computed from the cells as the section has them,
	// not read from src: a replay holds S(F)'s commits as the store has
	// them, some with payloads erased after F, which src counts as erased.
	k := commit.Checkpoint{Frontier: s.frontier}
	var vh view.Hash
	if err := s.loadGains(ctx, src); err != nil {
		return nil, err
	}
	voided, err := src.Voided(ctx, s.sp)
	if err != nil {
		return nil, err
	}
	s.eras = s.erasers()

	kept := map[locOf]bool{}
	var cells []Cell
	var live []byte // op digests of the live writes, in section order
	for row, err := range src.Cells(ctx, s.sp) {
		if err != nil {
			return nil, err
		}
		c := Cell{Key: row.Key, Entries: make([]Entry, len(row.Cell.Live))}
		for i, e := range row.Cell.Live {
			x := &c.Entries[i]
			x.Entry = e
			_, erased, err := src.Erasure(ctx, s.sp, e.Author, e.Seq, e.Op)
			if err != nil {
				return nil, err
			}
			if erased {
				x.Erase() // erased by an erase that counts: not lost (and the digest kept if the cell still held the value)
				if x.Erasure, err = s.erasureOf(opAt{locOf{e.Author, e.Seq}, e.Op}, voided); err != nil {
					return nil, err
				}
				continue
			}
			// Live at F, even if this store dropped its payload since (a
			// later erase, retention) or never got it (lost).
			x.Erased, x.Lost, x.PayloadDigest, x.PayloadLen, x.Value = false, false, keys.Digest{}, 0, nil
			if e.Tombstone() {
				continue
			}
			kc := s.at[locOf{e.Author, e.Seq}]
			if kc == nil || int(e.Op) >= len(kc.Ops) {
				return nil, fmt.Errorf("snapshot: cell %q names %s seq %d op %d, not in S(F)", row.Key, e.Author.Short(), e.Seq, e.Op)
			}
			kept[locOf{e.Author, e.Seq}] = true
			d := kc.OpDigest(int(e.Op))
			live = append(live, d[:]...)
			if i == 0 { // the winner, visible
				vh.Toggle(d)
				k.Visible++
			}
		}
		cells = append(cells, c)
	}
	k.View = keys.Digest(vh)
	cellsSec, err := encodeCells(s.idx, cells)
	if err != nil {
		return nil, err
	}

	for _, h := range s.frontier {
		// An author whose last commits at F do not count is announced
		// at its last commit that does (store.SyncHeads): keep that one,
		// so that a floored replica announces what a full one does.
		first := h.Seq + 1
		for first > 1 {
			if _, bad := voided[acl.Loc{Author: h.Author, Seq: first - 1}]; !bad {
				break
			}
			first--
		}
		if first <= h.Seq && first > 1 {
			kept[locOf{h.Author, first - 1}] = true
		}
	}

	snap := &Snapshot{}
	var refs []Ref
	var bytesN uint64
	for _, c := range s.order {
		bytesN += uint64(len(c.HeaderBytes()) + keys.SigSize)
		for _, o := range c.Ops {
			bytesN += uint64(len(o.Key))
			if o.Erased {
				bytesN += uint64(o.PayloadLen)
			} else {
				bytesN += uint64(len(o.Payload))
			}
		}
		if kept[locOf{c.Author, c.Seq}] || keepsControl(c) {
			snap.Kept = append(snap.Kept, c)
			refs = append(refs, Ref{Author: c.Author, Seq: c.Seq, ID: c.ID})
		}
	}

	causal, err := s.causal()
	if err != nil {
		return nil, err
	}
	aclSec, err := s.decision(ctx, src, voided)
	if err != nil {
		return nil, err
	}
	snap.Sections = Sections{Kept: encodeKept(s.idx, refs), Cells: cellsSec, Causal: causal, ACL: aclSec}
	k.Cells = CellsDigest(snap.Sections.Cells, live)
	k.Kept = KeptDigest(snap.Sections.Kept)
	k.Causal = CausalDigest(causal)
	k.ACL = ACLDigest(aclSec)
	k.Stats = commit.CheckpointStats{Commits: uint64(len(s.order)), Bytes: bytesN, Kept: uint64(len(snap.Kept)), Cells: uint64(len(cells))}
	snap.Checkpoint = k
	return snap, nil
}

// keepsControl reports whether c is kept whatever the cells say: it has
// a control op other than an erase (its effect is in the cells), or an op
// of a kind this version does not know.
func keepsControl(c *commit.Commit) bool {
	for _, o := range c.Ops {
		switch {
		case o.Kind == commit.KindErase:
		case o.Kind.IsControl():
			return true
		case !o.Kind.IsData() && o.Kind != commit.KindSealed && o.Kind != commit.KindBlob:
			return true
		}
	}
	return false
}
