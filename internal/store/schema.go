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
// and, if it counts, in the decision state.
func (a *applier) addSchemas(bc *batch, st *spaceState, scs []acl.Schema, valid bool) error {
	for i, sc := range scs {
		if valid {
			st.valid.AddSchema(sc)
		}
		if err := bc.b.Set(schemaKey(st.id, sc.Granter, sc.Seq, uint32(i)), encodeSchema(sc), nil); err != nil {
			return err
		}
	}
	return nil
}
