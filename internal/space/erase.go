package space

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/view"
)

// ErrNothingToErase is returned by Erase when no write held to the key
// (or under the prefix) has a payload left to erase.
var ErrNothingToErase = errors.New("nothing to erase")

// eraseOpBytes bounds the targets' encoded size per erase op, under the
// inline payload limit; erasePerCommit bounds the erase ops of a commit.
const (
	eraseOpBytes   = 60 << 10
	erasePerCommit = 16
)

// Erase writes erase ops naming every write held to key, or under key
// with prefix, whose payload is not erased yet: every replica that
// applies them drops those payloads (and lets go of the blobs they
// reference) while the commits still verify. It returns how many writes
// it named (not counting the blob ops named with a private space's
// blob writes). Erasing another member's write needs admin (of a prefix
// the key has): package acl's rules, checked before anything is signed.
// A large erase takes several commits, each atomic; an error after the
// first says how many were written.
func (s *Space) Erase(ctx context.Context, key []byte, prefix bool) (int, error) {
	return s.erase(ctx, key, EraseOptions{Prefix: prefix})
}

// EraseOptions choose what EraseWith names.
type EraseOptions struct {
	Prefix     bool // every key under the key
	Superseded bool // only writes a later write superseded: the live values stay (an edit)
}

// EraseWith is Erase with options.
func (s *Space) EraseWith(ctx context.Context, key []byte, o EraseOptions) (int, error) {
	return s.erase(ctx, key, o)
}

func (s *Space) erase(ctx context.Context, key []byte, o EraseOptions) (int, error) {
	ws, err := s.st.Writes(ctx, s.info.ID, key, o.Prefix)
	if err != nil {
		return 0, err
	}
	if o.Superseded {
		old := ws[:0]
		for _, w := range ws {
			if !w.Live {
				old = append(old, w)
			}
		}
		ws = old
	}
	ts, writes, err := s.eraseTargets(ctx, ws)
	if err != nil {
		return 0, err
	}
	if writes == 0 {
		return 0, fmt.Errorf("%w: no write to %q holds a payload here", ErrNothingToErase, key)
	}
	ops, err := eraseOps(ts)
	if err != nil {
		return 0, err
	}
	for i := 0; i < len(ops); i += erasePerCommit {
		if _, err := s.Commit(ctx, ops[i:min(i+erasePerCommit, len(ops))]); err != nil {
			if i > 0 {
				return 0, fmt.Errorf("space: erase: %d of %d erase commits written (their writes are erased), then: %w", i/erasePerCommit, (len(ops)+erasePerCommit-1)/erasePerCommit, err)
			}
			return 0, err
		}
	}
	return writes, nil
}

// eraseTargets names the ops of ws whose payloads are held, or lost (an
// erase of a lost write takes its key out of every view): a data op by
// its key, a sealed op without (its key is not in the clear), and the
// blob op after a sealed putblob, so that seeders let its blob go.
func (s *Space) eraseTargets(ctx context.Context, ws []store.Write) (ts []commit.EraseTarget, writes int, err error) {
	type at struct {
		au  keys.AuthorID
		seq uint64
	}
	held := map[at]*commit.Commit{}
	for _, w := range ws {
		if w.Erased && !w.Lost {
			continue
		}
		c, ok := held[at{w.Author, w.Seq}]
		if !ok {
			for sc, err := range s.st.Commits(ctx, s.info.ID, w.Author, w.Seq) {
				if err != nil {
					return nil, 0, err
				}
				if sc.Seq == w.Seq {
					if c, err = commit.Decode(sc.Bytes); err != nil {
						return nil, 0, fmt.Errorf("space: erase: %w", err)
					}
				}
				break
			}
			held[at{w.Author, w.Seq}] = c
		}
		if c == nil || int(w.Op) >= len(c.Ops) {
			continue
		}
		o := &c.Ops[w.Op]
		if o.Erased && !w.Lost {
			continue
		}
		t := commit.EraseTarget{Author: c.Author, Seq: c.Seq, ID: c.ID, Op: w.Op}
		switch {
		case o.Kind.IsData() && bytes.Equal(o.Key, w.Key):
			t.Key = o.Key
		case o.Kind == commit.KindSealed:
			if next := int(w.Op) + 1; next < len(c.Ops) && c.Ops[next].Kind == commit.KindBlob {
				ts = append(ts, commit.EraseTarget{Author: c.Author, Seq: c.Seq, ID: c.ID, Op: uint32(next)})
			}
		default:
			continue
		}
		ts = append(ts, t)
		writes++
	}
	return ts, writes, nil
}

// eraseOps packs targets into erase ops under the inline payload limit.
func eraseOps(ts []commit.EraseTarget) ([]commit.Op, error) {
	var ops []commit.Op
	for len(ts) > 0 {
		n, size := 0, 0
		for n < len(ts) && n < commit.MaxEraseTargets && size+100+len(ts[n].Key) <= eraseOpBytes {
			size += 100 + len(ts[n].Key) // a target's fields and CBOR framing are under 100 bytes
			n++
		}
		o, err := commit.EraseOp(commit.Erase{Targets: ts[:n]})
		if err != nil {
			return nil, fmt.Errorf("space: erase: %w", err)
		}
		ops = append(ops, o)
		ts = ts[n:]
	}
	return ops, nil
}

// ErrErased is wrapped by the error a read of an erased key returns.
var ErrErased = errors.New("erased")

// ErasedError says that key's value was erased, by whom and when.
type ErasedError struct {
	Key []byte
	By  keys.AuthorID // the erase's author; zero if not recorded (it arrived erased)
	At  time.Time
	// Lost: no erase that counts names the write, but this node does not
	// hold its value (it arrived erased ahead of its erase, or the erase
	// that dropped it was voided by a concurrent revocation).
	Lost bool
}

func (e *ErasedError) Error() string {
	if e.Lost {
		return fmt.Sprintf("%q has a value this node does not hold: an erase dropped it here and no longer counts, or the erase has not arrived yet (erase the key again to take it out of every view)", e.Key)
	}
	if e.By.IsZero() {
		return fmt.Sprintf("%q was erased (its value is gone from this node; the write is still in the history)", e.Key)
	}
	return fmt.Sprintf("%q was erased by %s on %s (its value is gone from this node; the write is still in the history)", e.Key, e.By.Short(), e.At.UTC().Format("2006-01-02 15:04 MST"))
}

func (e *ErasedError) Unwrap() error { return ErrErased }

// Erasure returns the error that says who erased entry e of key (an
// erased entry, as Get returns it).
func (s *Space) Erasure(ctx context.Context, key []byte, e view.Entry) error {
	out := &ErasedError{Key: bytes.Clone(key), Lost: e.Lost}
	if e.Lost {
		return out
	}
	r, ok, err := s.st.Erasure(ctx, s.info.ID, e.Author, e.Seq, e.Op)
	if err != nil {
		return err
	}
	if ok {
		out.By, out.At = r.By, time.UnixMicro(int64(r.Time.Wall))
	}
	return out
}

// SetRetention sets the space's retention policy: how long replicas keep
// the values of superseded and deleted writes (admin of the whole space).
func (s *Space) SetRetention(ctx context.Context, r commit.Retention) error {
	op, err := commit.RetentionOp(r)
	if err != nil {
		return err
	}
	_, err = s.Commit(ctx, []commit.Op{op})
	return err
}

// Retention returns the space's retention policy in force.
func (s *Space) Retention(ctx context.Context) (commit.Retention, error) {
	return s.st.Retention(ctx, s.info.ID)
}
