package commit_test

import (
	"testing"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/golden"
	"github.com/loamdb/loam/internal/keys"
)

// TestCheckpointVerdictRules: the encoders refuse what the decoders
// refuse, the decoders refuse bytes no encoder writes, and both kinds are
// control ops (no key, never erased).
func TestCheckpointVerdictRules(t *testing.T) {
	a, b := keys.AuthorID{1}, keys.AuthorID{2}
	for name, k := range map[string]commit.Checkpoint{
		"empty frontier": {},
		"unsorted":       {Frontier: []commit.FrontierHead{{Author: b, Seq: 1}, {Author: a, Seq: 1}}},
		"duplicate":      {Frontier: []commit.FrontierHead{{Author: a, Seq: 1}, {Author: a, Seq: 2}}},
		"seq 0":          {Frontier: []commit.FrontierHead{{Author: a}}},
	} {
		if _, err := commit.CheckpointOp(k); err == nil {
			t.Errorf("%s: encoded", name)
		}
	}
	for name, v := range map[string]commit.Verdict{
		"ok with a field":     {OK: true, Field: 3},
		"dispute of no field": {},
		"dispute of field 8":  {Field: 8},
	} {
		if _, err := commit.VerdictOp(v); err == nil {
			t.Errorf("%s: encoded", name)
		}
	}
	for name, p := range map[string]string{
		// op.verdict with field 3 added: an ok verdict naming a field.
		"ok naming a field": "a3 01 5820 7777777777777777777777777777777777777777777777777777777777777777 02 f5 03 03",
		"dispute, no field": "a2 01 5820 7777777777777777777777777777777777777777777777777777777777777777 02 f4",
		"field 0 written":   "a3 01 5820 7777777777777777777777777777777777777777777777777777777777777777 02 f4 03 00",
		"ok absent":         "a1 01 5820 7777777777777777777777777777777777777777777777777777777777777777",
		"ok as null":        "a2 01 5820 7777777777777777777777777777777777777777777777777777777777777777 02 f6",
		"short id":          "a2 01 5801 77 02 f5",
	} {
		if v, err := commit.DecodeVerdict(commit.Op{Kind: commit.KindVerdict, Payload: golden.Hex(p)}); err == nil {
			t.Errorf("verdict %s: decoded %+v", name, v)
		}
	}
	if k, err := commit.DecodeCheckpoint(commit.Op{Kind: commit.KindCheckpoint, Payload: golden.Hex(goldenCheckpointLogical("02"))}); err != nil || k.Frontier[0].Time.Logical != 2 {
		t.Fatalf("goldenCheckpointLogical does not rewrite the logical clock: %v", err)
	}
	if _, err := commit.DecodeCheckpoint(commit.Op{Kind: commit.KindCheckpoint, Erased: true, PayloadLen: 269}); err == nil {
		t.Error("an erased checkpoint decoded")
	}
	// op.checkpoint with its frontier's logical clock at 2³² and with a
	// stats array of 3.
	for name, p := range map[string]string{
		"logical 2^32": goldenCheckpointLogical("1b0000000100000000"),
		"no stats":     goldenCheckpointPayload[:len(goldenCheckpointPayload)-len("07 84 0a 1911b2 04 03")],
	} {
		if k, err := commit.DecodeCheckpoint(commit.Op{Kind: commit.KindCheckpoint, Payload: golden.Hex(p)}); err == nil {
			t.Errorf("checkpoint %s: decoded %+v", name, k)
		}
	}

	ck := mustOp(commit.CheckpointOp(goldenCheckpoint()))
	vd := mustOp(commit.VerdictOp(commit.Verdict{Checkpoint: fill(0x77), OK: true}))
	for _, o := range []commit.Op{ck, vd} {
		if !o.Kind.IsControl() || o.Kind.Erasable() {
			t.Errorf("%s: control %v, erasable %v", o.Kind, o.Kind.IsControl(), o.Kind.Erasable())
		}
		c := mustBuild(t, commit.Header{Space: goldenSpaceKey.Space(), Author: goldenDeviceKey.Author(), Seq: 1, Time: commit.HLC{Wall: 1}}, goldenDeviceKey, o)
		if _, err := c.Erase(0); err == nil {
			t.Errorf("%s: erased", o.Kind)
		}
		keyed := o
		keyed.Key = []byte("k")
		if _, err := commit.Build(c.Header, []commit.Op{keyed}, goldenDeviceKey); err == nil {
			t.Errorf("%s with a key: built", o.Kind)
		}
	}
}

// goldenCheckpointLogical is op.checkpoint with its logical clock encoded
// as l.
func goldenCheckpointLogical(l string) string {
	p := golden.Hex(goldenCheckpointPayload)
	hex := ""
	for _, c := range p {
		hex += string("0123456789abcdef"[c>>4]) + string("0123456789abcdef"[c&15])
	}
	// the frontier head's logical clock 02 follows its wall.
	const wall = "1b00060a24181e4001"
	i := len("a70181855820") + 64 + 2 + 4 + 64 + len(wall)
	return hex[:i] + l + hex[i+2:]
}

// TestCheckpointOverInlineLimit: a checkpoint of 1,000 authors (about 90
// KiB, over the 64 KiB inline limit) builds into a commit that decodes
// back, as a rotate does; no other control op may.
func TestCheckpointOverInlineLimit(t *testing.T) {
	var k commit.Checkpoint
	for i := range 1000 {
		var a keys.AuthorID
		a[0], a[1] = byte(i>>8), byte(i)
		k.Frontier = append(k.Frontier, commit.FrontierHead{Author: a, Seq: uint64(i + 1), Time: commit.HLC{Wall: 1 << 50}})
	}
	o := mustOp(commit.CheckpointOp(k))
	if len(o.Payload) <= commit.MaxValueSize {
		t.Fatalf("payload of %d bytes, want over %d", len(o.Payload), commit.MaxValueSize)
	}
	c := mustBuild(t, commit.Header{Space: goldenSpaceKey.Space(), Author: goldenDeviceKey.Author(), Seq: 1, Time: commit.HLC{Wall: 1}}, goldenDeviceKey, o)
	back, err := commit.Verify(c.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	got, err := commit.DecodeCheckpoint(back.Ops[0])
	if err != nil || len(got.Frontier) != 1000 || got.Frontier[999] != k.Frontier[999] {
		t.Fatalf("decoded %d heads, %v", len(got.Frontier), err)
	}
	big := commit.Op{Kind: commit.KindVerdict, Payload: make([]byte, commit.MaxValueSize+1)}
	if _, err := commit.Build(c.Header, []commit.Op{big}, goldenDeviceKey); err == nil {
		t.Error("a verdict over the inline limit built")
	}
}
