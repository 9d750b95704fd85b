package commit_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

func TestEraseOp(t *testing.T) {
	dev := goldenDeviceKey.Author()
	a := commit.EraseTarget{Author: dev, Seq: 4, ID: keys.CommitID{2}, Op: 1, Key: []byte("k")}
	b := commit.EraseTarget{Author: dev, Seq: 3, ID: keys.CommitID{1}, Op: 7}
	o, err := commit.EraseOp(commit.Erase{Targets: []commit.EraseTarget{a, b, a}})
	if err != nil {
		t.Fatal(err)
	}
	if o.Kind != commit.KindErase || !o.Kind.IsControl() || o.Kind.Erasable() {
		t.Fatalf("erase op %v: control %v, erasable %v", o.Kind, o.Kind.IsControl(), o.Kind.Erasable())
	}
	e, err := commit.DecodeErase(o)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Targets) != 2 || e.Targets[0].Seq != 3 || e.Targets[1].Seq != 4 || string(e.Targets[1].Key) != "k" {
		t.Fatalf("targets not sorted and distinct: %+v", e.Targets)
	}
	if _, err := commit.EraseOp(commit.Erase{}); err == nil {
		t.Fatal("an erase of nothing was made")
	}
	many := make([]commit.EraseTarget, commit.MaxEraseTargets+1)
	for i := range many {
		many[i] = commit.EraseTarget{Author: dev, Seq: uint64(i + 1)}
	}
	if _, err := commit.EraseOp(commit.Erase{Targets: many}); err == nil || !strings.Contains(err.Error(), "split") {
		t.Fatalf("an erase of %d ops: %v", len(many), err)
	}
	if _, err := commit.DecodeErase(commit.Op{Kind: commit.KindErase, Payload: []byte{0xa1, 0x01, 0x80}}); !errors.Is(err, commit.ErrMalformed) {
		t.Fatalf("an empty target list decoded: %v", err)
	}
}

// TestEraseTargetNames: a store applies a target only when it names the
// op it holds.
func TestEraseTargetNames(t *testing.T) {
	k := goldenDeviceKey
	c := mustBuild(t, commit.Header{Space: goldenSpaceKey.Space(), Author: k.Author(), Seq: 1, Time: commit.HLC{Wall: 1}}, k, commit.Put([]byte("k"), []byte("v")))
	good := commit.EraseTarget{Author: k.Author(), Seq: 1, ID: c.ID, Op: 0, Key: []byte("k")}
	if err := good.Names(c, 0); err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string]commit.EraseTarget{
		"another key":    {Author: k.Author(), Seq: 1, ID: c.ID, Op: 0, Key: []byte("j")},
		"no key":         {Author: k.Author(), Seq: 1, ID: c.ID, Op: 0},
		"another seq":    {Author: k.Author(), Seq: 2, ID: c.ID, Op: 0, Key: []byte("k")},
		"another author": {Author: keys.AuthorID{9}, Seq: 1, ID: c.ID, Op: 0, Key: []byte("k")},
		"another commit": {Author: k.Author(), Seq: 1, ID: keys.CommitID{9}, Op: 0, Key: []byte("k")},
		"another op":     {Author: k.Author(), Seq: 1, ID: c.ID, Op: 1, Key: []byte("k")},
	} {
		if err := bad.Names(c, int(bad.Op)); err == nil {
			t.Errorf("%s: named", name)
		}
	}
}
