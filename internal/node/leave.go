package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/loamdb/loam/internal/blob"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/reconcile"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
)

// Leaving a space (issue 14): Leave removes a held space from this node —
// its rows (store.Forget), the blobs no other held space references, its
// key files, its peer book entries — and the node stops syncing and
// announcing it. docs/design.md, "Leaving a space (#14)".
//
// The order makes a crash harmless. First the person's directory is
// marked (the follower would bring the space back otherwise); then a
// leave record HOME/spaces/<space>.leaving is written durably; then
// everything goes; the record goes last. A node that starts with a record
// finishes that leave before it syncs anything (finishLeaves): a crash
// leaves the space whole (before the record) or a leave the next start
// completes.

// ErrPersonSpace is returned for an attempt to leave the person's own
// space: it holds the person's directory and devices, and every device of
// the person holds it.
var ErrPersonSpace = errors.New("the person's own space cannot be left")

const (
	// leaveSuffix names a leave record: HOME/spaces/<space>.leaving.
	leaveSuffix = ".leaving"
	// leftPrefix is the person space's prefix of leave marks:
	// left/<space>/<device> says that device left the space, so its
	// follower does not join it again from the directory.
	leftPrefix = "left/"
)

// leaveState is the set of spaces a Leave is removing: the person worker
// leaves their marks alone.
type leaveState struct {
	mu  sync.Mutex
	ids map[keys.SpaceID]bool // guarded by mu
}

func (l *leaveState) set(id keys.SpaceID, on bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ids == nil {
		l.ids = map[keys.SpaceID]bool{}
	}
	if on {
		l.ids[id] = true
	} else {
		delete(l.ids, id)
	}
}

func (l *leaveState) has(id keys.SpaceID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ids[id]
}

// LeavePlan is what leaving a space loses, as far as this node can tell.
type LeavePlan struct {
	Space keys.SpaceID
	Name  string
	// Commits and CommitBytes count the space's commits in the store (its
	// cells and view are rebuilt from them and take less).
	Commits     int
	CommitBytes int64
	// Blobs and BlobBytes count the blobs held here that no other held
	// space references: they are deleted. SharedBlobs are referenced by
	// another held space too, PinnedBlobs are pinned ('loam blob pin'):
	// both stay.
	Blobs       int
	BlobBytes   int64
	SharedBlobs int
	PinnedBlobs int
	// OtherHolders counts the other devices known to hold the space: its
	// members and seeders, the authors of its commits and the peers this
	// node synced it with. Zero: this node is its only known holder, and
	// what it holds of the space is lost with it.
	OtherHolders int
	// OnlyAdmin is set when this device is an admin of the space and no
	// other device is known to be one: nobody can invite or revoke after.
	OnlyAdmin bool
	// Secret is set when this home holds the space's secret key (it signed
	// the genesis; it is deleted too).
	Secret bool
	// OwnCommits counts this device's commits in the space; Unsynced, of
	// those, the newest ones no other node is known to hold: no commit of
	// another author held here depends on them, and no peer syncing now
	// has them. They are lost with the space unless a peer has them after
	// all.
	OwnCommits uint64
	Unsynced   uint64
}

// LeaveReport is what Leave did.
type LeaveReport struct {
	LeavePlan
	// Freed is the blob bytes deleted (those of the plan, and any other
	// blob no held space referenced any more).
	Freed int64
}

// PlanLeave says what leaving the held space ref would lose, without
// changing anything.
func (n *Node) PlanLeave(ctx context.Context, ref string) (LeavePlan, error) {
	id, err := n.leavable(ctx, ref)
	if err != nil {
		return LeavePlan{}, err
	}
	return n.planLeave(ctx, id)
}

// Leave removes the held space ref from this node: its commits, cells and
// every other row, the blobs no other held space references (pinned ones
// stay), its read keys, invite keys, space secret and peer book entries;
// the node stops syncing it (sessions sharing it are closed and open again
// without it) and stops announcing it on the DHT. Records already in the
// DHT expire by themselves (within 48 h). If this device holds an
// identity, it marks the space left in the person's directory first, so
// that its follower does not join it again; the person's other devices
// keep it. The person's own space cannot be left (ErrPersonSpace). The
// space can be joined again later from an invite.
func (n *Node) Leave(ctx context.Context, ref string) (LeaveReport, error) {
	if err := n.Closed(); err != nil {
		return LeaveReport{}, err
	}
	id, err := n.leavable(ctx, ref)
	if err != nil {
		return LeaveReport{}, err
	}
	if n.rc != nil { // no join of the space runs meanwhile
		unlock, err := n.lockJoin(ctx, id, nil)
		if err != nil {
			return LeaveReport{}, err
		}
		defer unlock()
	}
	plan, err := n.planLeave(ctx, id)
	if err != nil {
		return LeaveReport{}, err
	}
	n.leave.set(id, true)
	defer n.leave.set(id, false)
	if err := n.markLeft(ctx, id); err != nil {
		return LeaveReport{}, fmt.Errorf("node: leave %s: %w (nothing was removed)", plan.Name, err)
	}
	if err := replaceFile(n.leaveFile(id), []byte(id.String()+"\n")); err != nil {
		return LeaveReport{}, fmt.Errorf("node: leave %s: record the leave: %w (nothing was removed)", plan.Name, err)
	}
	freed, err := n.finishLeave(ctx, id)
	if err != nil {
		return LeaveReport{}, fmt.Errorf("node: leave %s: %w (the next start of this node finishes it)", plan.Name, err)
	}
	n.log.Info("space left", "space", id.String(), "name", plan.Name, "blob_bytes_freed", freed)
	return LeaveReport{LeavePlan: plan, Freed: freed}, nil
}

// leavable resolves ref to a held space that may be left.
func (n *Node) leavable(ctx context.Context, ref string) (keys.SpaceID, error) {
	id, err := n.Resolve(ctx, ref)
	if err != nil {
		return id, err
	}
	if pid, ok := n.PersonSpace(); ok && pid == id {
		return id, fmt.Errorf("%w: it holds your directory of spaces and your devices (to stop using this device, revoke it from another one: 'loam device revoke')", ErrPersonSpace)
	}
	return id, nil
}

func (n *Node) leaveFile(id keys.SpaceID) string {
	return filepath.Join(n.home, "spaces", id.String()+leaveSuffix)
}

// finishLeave removes what is left of space id, whose leave record is
// written, and then the record; it returns the blob bytes freed. It may
// run again on what a previous run removed in part.
func (n *Node) finishLeave(ctx context.Context, id keys.SpaceID) (int64, error) {
	// Stop syncing and announcing it: no new session offers it, the
	// sessions that share it end (they open again without it), and the
	// write path and the discovery, peer book and awaiting entries go.
	n.mu.Lock()
	if i := slices.Index(n.held, id); i >= 0 {
		n.held = slices.Delete(n.held, i, i+1)
	}
	delete(n.spaces, id)
	var sharing []*reconcile.Session
	for _, s := range n.sessions {
		if slices.Contains(s.Shared(), id) {
			sharing = append(sharing, s)
		}
	}
	n.mu.Unlock()
	for _, s := range sharing {
		s.Close()
	}
	if n.disc != nil {
		n.disc.mu.Lock()
		delete(n.disc.spaces, id)
		n.disc.mu.Unlock()
	}
	if n.rc != nil {
		n.rc.book.forget(id)
		n.rc.saveBook()
	}
	if err := n.dropAwaiting(id); err != nil {
		return 0, err
	}

	n.roster.forget(id)
	if err := n.st.Forget(ctx, id); err != nil && !errors.Is(err, store.ErrUnknownSpace) {
		return 0, fmt.Errorf("remove its rows: %w", err)
	}
	if err := n.rk.Forget(id, true); err != nil {
		return 0, err
	}
	for _, f := range []string{secretPath(n.home, id), n.joinFile(id)} {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return 0, fmt.Errorf("remove %s: %w", f, err)
		}
	}
	if err := os.RemoveAll(n.snapDir(id)); err != nil { // checkpoints' snapshots kept to serve (checkpoint.go)
		return 0, fmt.Errorf("remove its snapshots: %w", err)
	}
	freed, err := n.dropBlobs(ctx)
	if err != nil {
		return freed, fmt.Errorf("delete its blobs: %w", err)
	}
	if err := os.Remove(n.leaveFile(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return freed, fmt.Errorf("remove the leave record: %w", err)
	}
	// The rows are deleted; Pebble frees their bytes when it compacts
	// their range: now, rather than when it gets to them.
	if err := n.st.CompactSpace(ctx, id); err != nil && ctx.Err() == nil {
		n.log.Warn("leave: compact the left space's rows", "space", id.String(), "err", err)
	}
	return freed, nil
}

// dropBlobs deletes the blobs no held space references any more (as
// GCBlobs) and unqueues them from the eager fetcher, which would otherwise
// download them again. It returns the bytes freed.
func (n *Node) dropBlobs(ctx context.Context) (int64, error) {
	return n.gcBlobs(ctx, n.wanted.keepOnly)
}

// keepOnly unqueues the blobs not in refs.
func (w *wantedSet) keepOnly(refs map[blob.BlobID]blob.Ref) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id := range w.ids {
		if _, ok := refs[id]; !ok {
			delete(w.ids, id)
		}
	}
}

// dropAwaiting removes id from the spaces awaiting their own history.
func (n *Node) dropAwaiting(id keys.SpaceID) error {
	n.await.mu.Lock()
	if !n.await.ids[id] {
		n.await.mu.Unlock()
		return nil
	}
	delete(n.await.ids, id)
	rest := make([]keys.SpaceID, 0, len(n.await.ids))
	for a := range n.await.ids {
		rest = append(rest, a)
	}
	n.await.mu.Unlock()
	slices.SortFunc(rest, func(a, b keys.SpaceID) int { return slices.Compare(a[:], b[:]) })
	return n.saveAwaiting(rest)
}

// finishLeaves finishes the leaves a previous run did not (their records
// are still there). Open calls it before the node syncs anything.
func (n *Node) finishLeaves(ctx context.Context) error {
	var ids []keys.SpaceID
	err := readSpaceFiles(filepath.Join(n.home, "spaces"), leaveSuffix, func(id keys.SpaceID, _ string, _ []byte) error {
		ids = append(ids, id)
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("node: read the leave records: %w", err)
	}
	for _, id := range ids {
		if _, err := n.finishLeave(ctx, id); err != nil {
			return fmt.Errorf("node: finish leaving %s: %w", id, err)
		}
		n.log.Info("space left (a leave the last run began)", "space", id.String())
	}
	return nil
}

// planLeave computes the LeavePlan of held space id.
func (n *Node) planLeave(ctx context.Context, id keys.SpaceID) (LeavePlan, error) {
	info, err := n.st.Space(ctx, id)
	if err != nil {
		return LeavePlan{}, unknownSpaceHint(err)
	}
	p := LeavePlan{Space: id, Name: info.Name}
	if _, err := os.Stat(secretPath(n.home, id)); err == nil {
		p.Secret = true
	}
	if err := n.planBlobs(ctx, id, &p); err != nil {
		return LeavePlan{}, err
	}
	if err := n.planHistory(ctx, id, &p); err != nil {
		return LeavePlan{}, err
	}
	if err := n.planHolders(ctx, id, &p); err != nil {
		return LeavePlan{}, err
	}
	return p, nil
}

// planBlobs counts the blobs space id references that leaving it frees.
func (n *Node) planBlobs(ctx context.Context, id keys.SpaceID, p *LeavePlan) error {
	mine := map[blob.BlobID]blob.Ref{}
	if err := n.spaceBlobRefs(ctx, id, mine, map[blob.BlobID]bool{}); err != nil {
		return err
	}
	if len(mine) == 0 {
		return nil
	}
	others, seeded := map[blob.BlobID]blob.Ref{}, map[blob.BlobID]bool{}
	for _, o := range n.syncSpaces() {
		if o != id {
			if err := n.spaceBlobRefs(ctx, o, others, seeded); err != nil {
				return err
			}
		}
	}
	for b := range mine {
		m, err := n.blobs.Manifest(b)
		switch {
		case err != nil: // not held here: nothing to free
		case others[b].ID == b:
			p.SharedBlobs++
		case n.blobs.IsPinned(b):
			p.PinnedBlobs++
		default:
			p.Blobs++
			p.BlobBytes += m.Size
		}
	}
	return nil
}

// planHistory counts the space's commits and this device's, and finds how
// many of its own no other node is known to hold: the newest of its
// commits that another author's commit names as a dependency, or that a
// peer syncing now has, is held elsewhere, and with it every earlier one.
func (n *Node) planHistory(ctx context.Context, id keys.SpaceID, p *LeavePlan) error {
	me := n.dev.Author()
	mine := map[keys.CommitID]uint64{}
	for sc, err := range n.st.Commits(ctx, id, me, 1) {
		if err != nil {
			return err
		}
		mine[sc.ID] = sc.Seq
		p.OwnCommits = max(p.OwnCommits, sc.Seq)
	}
	var held uint64 // the newest own commit known to be held elsewhere
	for sc, err := range n.st.AllCommits(ctx, id) {
		if err != nil {
			return err
		}
		p.Commits++
		p.CommitBytes += int64(len(sc.Bytes))
		if sc.Author == me || len(mine) == 0 {
			continue
		}
		c, err := commit.Decode(sc.Bytes)
		if err != nil {
			return fmt.Errorf("node: commit %s of %s: %w", sc.ID, id, err)
		}
		for _, d := range c.Deps {
			held = max(held, mine[d])
		}
	}
	if p.OwnCommits > held {
		ours := []store.Head{{Author: me, Seq: p.OwnCommits}}
		n.mu.Lock()
		for _, s := range n.sessions {
			if _, extra, known := s.Gap(id, ours); known {
				held = max(held, p.OwnCommits-extra)
			}
		}
		n.mu.Unlock()
	}
	p.Unsynced = p.OwnCommits - min(held, p.OwnCommits)
	return nil
}

// planHolders counts the other devices known to hold space id and tells
// whether this device is its only known admin.
func (n *Node) planHolders(ctx context.Context, id keys.SpaceID, p *LeavePlan) error {
	me, genesis := n.dev.Author(), keys.AuthorID(id)
	acc, err := n.st.Access(ctx, id)
	if err != nil {
		return err
	}
	ms, _, err := n.roster.get(ctx, n.st, id)
	if err != nil {
		return err
	}
	heads, err := n.st.Heads(ctx, id)
	if err != nil {
		return err
	}
	others := map[keys.AuthorID]bool{}
	for _, m := range ms {
		if !m.Invite && m.Role != 0 {
			others[m.Author] = true
		}
	}
	for _, a := range acc.Certified() {
		others[a] = true
	}
	for _, h := range heads {
		others[h.Author] = true
	}
	if n.rc != nil {
		for _, e := range n.rc.book.peers(id) {
			others[e.ID] = true
		}
	}
	delete(others, me)
	delete(others, genesis) // the space key: it signed the genesis and holds nothing
	p.OtherHolders = len(others)
	if acc.Role(me) != commit.RoleAdmin {
		return nil
	}
	p.OnlyAdmin = true
	for a := range others {
		if acc.Role(a) == commit.RoleAdmin {
			p.OnlyAdmin = false
			break
		}
	}
	return nil
}

// The person's directory. A device that leaves a space writes
// left/<space>/<device> into the person space: its follower joins no space
// of the directory it left, while the person's other devices keep it and
// keep its entry. Held again (joined from an invite, restored), the mark
// is stale and the person worker deletes it (clearLeftMarks).

func leftKey(sp keys.SpaceID, dev keys.AuthorID) []byte {
	return []byte(leftPrefix + sp.String() + "/" + dev.String())
}

// leftEntry is the value of a leave mark.
type leftEntry struct {
	Left string `json:"left"` // when, RFC 3339
}

// markLeft writes this device's leave mark of space id into the person
// space, if this device holds one. A device that may not write there yet
// fails only if the directory lists the space (its follower would bring
// it back).
func (n *Node) markLeft(ctx context.Context, id keys.SpaceID) error {
	pid, ok := n.PersonSpace()
	if !ok || !n.holds(pid) {
		return nil
	}
	ps, err := n.openSpace(ctx, pid)
	if err != nil {
		return err
	}
	ops := []commit.Op{commit.Put(leftKey(id, n.dev.Author()), mustJSON(leftEntry{Left: time.Now().UTC().Format(time.RFC3339)}))}
	if err := ps.CheckWrite(ctx, ops); err != nil {
		if e, gerr := ps.Get(ctx, []byte(dirPrefix+id.String())); gerr == nil && !e.Tombstone() {
			return fmt.Errorf("the person's directory lists the space and this device may not mark it left there (%w): your other devices would make this one join it again; try again once this device syncs with them", err)
		}
		return nil
	}
	if _, err := ps.Commit(ctx, ops); err != nil {
		return fmt.Errorf("mark the space left in the person's directory: %w", err)
	}
	return nil
}

// leftHere reports whether this device's leave mark of space sp is in
// force in the person space ps.
func (n *Node) leftHere(ctx context.Context, ps *space.Space, sp keys.SpaceID) bool {
	e, err := ps.Get(ctx, leftKey(sp, n.dev.Author()))
	return err == nil && !e.Tombstone()
}

// clearLeftMarks deletes this device's leave marks of the spaces it holds
// again (and is not leaving).
func (n *Node) clearLeftMarks(ctx context.Context, pid keys.SpaceID) error {
	ps, err := n.openSpace(ctx, pid)
	if err != nil {
		return err
	}
	var ops []commit.Op
	for _, sp := range n.syncSpaces() {
		if sp == pid || n.leave.has(sp) || !n.leftHere(ctx, ps, sp) {
			continue
		}
		ops = append(ops, commit.Del(leftKey(sp, n.dev.Author())))
	}
	if len(ops) == 0 || ps.CheckWrite(ctx, ops) != nil {
		return nil
	}
	if _, err := ps.Commit(ctx, ops); err != nil {
		return fmt.Errorf("clear the leave marks of spaces held again: %w", err)
	}
	return nil
}
