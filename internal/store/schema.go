package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

// App rules (#15): the schema declarations of stored commits are kept in
// their own table, as grants are, so that a space's rules in force are
// known again on reopen without reading its commits.

// schemaKey is the row of the i-th schema op of the commit (granter, seq).
func schemaKey(sp keys.SpaceID, granter keys.AuthorID, seq uint64, i uint32) []byte {
	return spaceKey(tagSchema, sp, granter[:], be64(seq), binary.BigEndian.AppendUint32(nil, i))
}

// encodeSchema: version (8 BE) ‖ app length (2 BE) ‖ app ‖ body.
func encodeSchema(sc acl.Schema) []byte {
	b := make([]byte, 0, 10+len(sc.App)+len(sc.Body))
	b = binary.BigEndian.AppendUint64(b, sc.Version)
	b = binary.BigEndian.AppendUint16(b, uint16(len(sc.App)))
	b = append(b, sc.App...)
	return append(b, sc.Body...)
}

// decodeSchemaRow decodes a schema row (tagSchema).
func decodeSchemaRow(k, v []byte) (acl.Schema, error) {
	if len(k) != 1+2*keys.Size+8+4 || len(v) < 10 {
		return acl.Schema{}, fmt.Errorf("%w: schema row", ErrCorrupt)
	}
	n := int(binary.BigEndian.Uint16(v[8:]))
	if n == 0 || n > 256 || len(v) < 10+n || len(v)-10-n > commit.MaxValueSize {
		return acl.Schema{}, fmt.Errorf("%w: schema row", ErrCorrupt)
	}
	sc := acl.Schema{
		Granter: keys.AuthorID(k[1+keys.Size:]),
		Seq:     binary.BigEndian.Uint64(k[1+2*keys.Size:]),
		Version: binary.BigEndian.Uint64(v),
		App:     string(v[10 : 10+n]),
	}
	if len(v) > 10+n {
		sc.Body = bytes.Clone(v[10+n:])
	}
	return sc, nil
}

// Schemas returns the schema declarations of every stored commit of a
// space, whether it counts or not (see Access for those that count).
func (s *Store) Schemas(ctx context.Context, sp keys.SpaceID) ([]acl.Schema, error) {
	var e err0
	var out []acl.Schema
	for k, v := range s.scan(ctx, spaceKey(tagSchema, sp), false, &e) {
		sc, err := decodeSchemaRow(k, v)
		if err != nil {
			return nil, err
		}
		out = append(out, sc)
	}
	return out, e.err
}

// addSchemas records the schema declarations of a stored commit durably
// and, if it counts, in the decision state. A declaration with a
// write-once rule new to the state is watched, counting or not, and the
// space is decided again, so that the writes stored before it are tracked
// (acl/once.go); on a floored space, which holds no commits below its
// floor to track, deciding again marks that it needs its history
// (floorRebuild), unless the rule comes with the snapshot being installed
// (installed: its tracked writes come with it).
func (a *applier) addSchemas(bc *batch, st *spaceState, scs []acl.Schema, valid, installed bool) error {
	for i, sc := range scs {
		if valid {
			st.valid.AddSchema(sc)
		}
		if st.valid.Watch(sc) && !installed {
			st.view.redecide = true
			bc.rebuild[st.id] = true
		}
		if err := bc.b.Set(schemaKey(st.id, sc.Granter, sc.Seq, uint32(i)), encodeSchema(sc), nil); err != nil {
			return err
		}
	}
	return nil
}

// onceKey is the row of a tracked write: commit (author, seq) wrote key.
func onceKey(sp keys.SpaceID, l acl.Loc, key []byte) []byte {
	return spaceKey(tagOnce, sp, l.Author[:], be64(l.Seq), key)
}

// decodeOnceRow decodes the key of a tracked write's row (tagOnce).
func decodeOnceRow(k []byte) ([]byte, acl.Loc, error) {
	const head = 1 + 2*keys.Size + 8
	if len(k) <= head || k[0] != tagOnce || len(k)-head > commit.MaxKeySize {
		return nil, acl.Loc{}, fmt.Errorf("%w: write-once row", ErrCorrupt)
	}
	l := acl.Loc{Author: keys.AuthorID(k[1+keys.Size:]), Seq: binary.BigEndian.Uint64(k[1+2*keys.Size:])}
	return bytes.Clone(k[head:]), l, nil
}

// OnceWrite is a write tracked for write-once rules: the commit (author,
// seq), which counts, wrote key.
type OnceWrite struct {
	Key []byte
	acl.Loc
}

// OnceWrites returns a space's tracked writes in (author, seq, key)
// order: the writes of keys of its write-once rules by the commits that
// count. A checkpoint carries them (its acl section), so that a replica
// installed from it refuses a rewrite of a key written below its floor as
// a full replica does.
func (s *Store) OnceWrites(ctx context.Context, sp keys.SpaceID) ([]OnceWrite, error) {
	var e err0
	var out []OnceWrite
	for k := range s.scan(ctx, spaceKey(tagOnce, sp), false, &e) {
		key, l, err := decodeOnceRow(k)
		if err != nil {
			return nil, err
		}
		out = append(out, OnceWrite{Key: key, Loc: l})
	}
	return out, e.err
}

// recordOnce tracks the writes of c, which counts, for write-once rules,
// durably and in the decision state.
func (a *applier) recordOnce(bc *batch, st *spaceState, c *commit.Commit) error {
	for _, key := range st.valid.Record(c) {
		if err := bc.b.Set(onceKey(st.id, acl.Loc{Author: c.Author, Seq: c.Seq}, key), nil, nil); err != nil {
			return err
		}
	}
	return nil
}

// rewriteOnce replaces the tracked writes' rows of a space with those of
// its decision state (after deciding it again).
func (a *applier) rewriteOnce(bc *batch, st *spaceState) error {
	p := spaceKey(tagOnce, st.id)
	if err := bc.b.DeleteRange(p, prefixEnd(p), nil); err != nil {
		return err
	}
	for key, ls := range st.valid.OnceWrites() {
		for _, l := range ls {
			if err := bc.b.Set(onceKey(st.id, l, []byte(key)), nil, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// loadOnce fills a decision state with a space's write-once rules: every
// stored declaration watched (counting or not), the tracked writes of the
// commits counts says count.
func (s *Store) loadOnce(ctx context.Context, sp keys.SpaceID, st *acl.State, schemas []acl.Schema, counts func(acl.Loc) bool) error {
	watching := false
	for _, sc := range schemas {
		st.Watch(sc)
		watching = watching || st.OnceWrites() != nil
	}
	if !watching {
		return nil
	}
	var e err0
	for k := range s.scan(ctx, spaceKey(tagOnce, sp), false, &e) {
		key, l, err := decodeOnceRow(k)
		if err != nil {
			return err
		}
		if counts(l) {
			st.AddWrite(key, l)
		}
	}
	return e.err
}
