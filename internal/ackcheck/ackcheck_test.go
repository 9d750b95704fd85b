package ackcheck

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// replica is a map of space/key to entry.
type replica struct {
	name string
	m    map[string]Entry
	err  error
}

func (r replica) Name() string { return r.name }
func (r replica) Get(_ context.Context, sp, key string) (Entry, error) {
	return r.m[sp+"/"+key], r.err
}

func v(wall uint64, author string) Version { return Version{Wall: wall, Author: author, Seq: wall} }

func TestCheck(t *testing.T) {
	ctx := context.Background()
	type step struct {
		acked bool
		w     Write
	}
	for _, tc := range []struct {
		name   string
		writes []step
		shows  []map[string]Entry // one per replica
		want   string             // substring of the error, "" for a pass
	}{
		{"one write, present", []step{{true, Write{Space: "s", Key: "k", Value: "a"}}},
			[]map[string]Entry{{"s/k": {Found: true, Value: "a"}}, {"s/k": {Found: true, Value: "a"}}}, ""},
		{"one write, lost on one replica", []step{{true, Write{Space: "s", Key: "k", Value: "a"}}},
			[]map[string]Entry{{"s/k": {Found: true, Value: "a"}}, {}}, "lost acknowledged"},
		{"a value nobody wrote", []step{{true, Write{Space: "s", Key: "k", Value: "a"}}},
			[]map[string]Entry{{"s/k": {Found: true, Value: "zz"}}}, "no write of the test wrote"},
		{"replicas disagree", []step{{true, Write{Space: "s", Key: "k", Value: "a", Version: v(1, "x")}}, {false, Write{Space: "s", Key: "k", Value: "b", Version: v(2, "x")}}},
			[]map[string]Entry{{"s/k": {Found: true, Value: "a"}}, {"s/k": {Found: true, Value: "b"}}}, "replicas disagree"},
		{"newest acknowledged wins", []step{{true, Write{Space: "s", Key: "k", Value: "a", Version: v(1, "x")}}, {true, Write{Space: "s", Key: "k", Value: "b", Version: v(2, "y")}}},
			[]map[string]Entry{{"s/k": {Found: true, Value: "b"}}}, ""},
		{"older acknowledged shows", []step{{true, Write{Space: "s", Key: "k", Value: "a", Version: v(1, "x")}}, {true, Write{Space: "s", Key: "k", Value: "b", Version: v(2, "y")}}},
			[]map[string]Entry{{"s/k": {Found: true, Value: "a"}}}, "shows older"},
		{"newer write in doubt shows", []step{{true, Write{Space: "s", Key: "k", Value: "a", Version: v(1, "x")}}, {false, Write{Space: "s", Key: "k", Value: "b", Version: v(2, "y")}}},
			[]map[string]Entry{{"s/k": {Found: true, Value: "b"}}}, ""},
		{"older write in doubt shows", []step{{true, Write{Space: "s", Key: "k", Value: "a", Version: v(2, "x")}}, {false, Write{Space: "s", Key: "k", Value: "b", Version: v(1, "y")}}},
			[]map[string]Entry{{"s/k": {Found: true, Value: "b"}}}, "shows older"},
		{"acknowledged delete", []step{{true, Write{Space: "s", Key: "k", Value: "a", Version: v(1, "x")}}, {true, Write{Space: "s", Key: "k", Deleted: true, Version: v(2, "x")}}},
			[]map[string]Entry{{}}, ""},
		{"delete lost", []step{{true, Write{Space: "s", Key: "k", Value: "a", Version: v(1, "x")}}, {true, Write{Space: "s", Key: "k", Deleted: true, Version: v(2, "x")}}},
			[]map[string]Entry{{"s/k": {Found: true, Value: "a"}}}, "shows older"},
		{"put after delete lost", []step{{true, Write{Space: "s", Key: "k", Deleted: true, Version: v(1, "x")}}, {true, Write{Space: "s", Key: "k", Value: "a", Version: v(2, "x")}}},
			[]map[string]Entry{{}}, "the key is absent"},
		{"only in doubt, absent", []step{{false, Write{Space: "s", Key: "k", Value: "a"}}},
			[]map[string]Entry{{}}, ""},
		{"unversioned, in-doubt delete may follow", []step{{true, Write{Space: "s", Key: "k", Value: "a"}}, {false, Write{Space: "s", Key: "k", Deleted: true}}},
			[]map[string]Entry{{}}, ""},
		{"unversioned, two writers, either wins", []step{{true, Write{Space: "s", Key: "k", Value: "a", Writer: "x"}}, {true, Write{Space: "s", Key: "k", Value: "b", Writer: "y"}}},
			[]map[string]Entry{{"s/k": {Found: true, Value: "a"}}, {"s/k": {Found: true, Value: "a"}}}, ""},
		{"unversioned, two writers, both lost", []step{{true, Write{Space: "s", Key: "k", Value: "a", Writer: "x"}}, {true, Write{Space: "s", Key: "k", Value: "b", Writer: "y"}}},
			[]map[string]Entry{{}}, "the key is absent, and no delete"},
		{"unversioned, a delete by another writer may win", []step{{true, Write{Space: "s", Key: "k", Value: "a", Writer: "x", Order: 1}}, {true, Write{Space: "s", Key: "k", Deleted: true, Writer: "y", Order: 1}}, {true, Write{Space: "s", Key: "k", Value: "b", Writer: "x", Order: 2}}},
			[]map[string]Entry{{}}, ""},
		{"unversioned, a sequential writer's later write wins", []step{{true, Write{Space: "s", Key: "k", Value: "a", Writer: "x", Order: 1}}, {true, Write{Space: "s", Key: "k", Value: "b", Writer: "x", Order: 2}}},
			[]map[string]Entry{{"s/k": {Found: true, Value: "b"}}}, ""},
		{"unversioned, a sequential writer's older write shows", []step{{true, Write{Space: "s", Key: "k", Value: "a", Writer: "x", Order: 1}}, {true, Write{Space: "s", Key: "k", Value: "b", Writer: "x", Order: 2}}},
			[]map[string]Entry{{"s/k": {Found: true, Value: "a"}}}, "which its writer overwrote before"},
		{"unversioned, a write in doubt may have been applied after the next", []step{{false, Write{Space: "s", Key: "k", Value: "a", Writer: "x", Order: 1}}, {true, Write{Space: "s", Key: "k", Value: "b", Writer: "x", Order: 2}}, {true, Write{Space: "s", Key: "k", Value: "c", Writer: "y", Order: 1}}},
			[]map[string]Entry{{"s/k": {Found: true, Value: "a"}}}, ""},
		{"unversioned, a delete in doubt may win over a later put", []step{{false, Write{Space: "s", Key: "k", Deleted: true, Writer: "x", Order: 1}}, {true, Write{Space: "s", Key: "k", Value: "b", Writer: "x", Order: 2}}},
			[]map[string]Entry{{}}, ""},
		{"unversioned, a delete its writer overwrote cannot win", []step{{true, Write{Space: "s", Key: "k", Deleted: true, Writer: "x", Order: 1}}, {true, Write{Space: "s", Key: "k", Value: "b", Writer: "x", Order: 2}}, {true, Write{Space: "s", Key: "k", Value: "c", Writer: "y", Order: 1}}},
			[]map[string]Entry{{}}, "no delete can have won"},
		{"unversioned, a later write in doubt may win", []step{{true, Write{Space: "s", Key: "k", Value: "a", Writer: "x", Order: 1}}, {false, Write{Space: "s", Key: "k", Value: "b", Writer: "x", Order: 2}}},
			[]map[string]Entry{{"s/k": {Found: true, Value: "b"}}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := New()
			for _, s := range tc.writes {
				if s.acked {
					c.Acked(s.w)
				} else {
					c.InDoubt(s.w)
				}
			}
			var rs []Replica
			for i, m := range tc.shows {
				rs = append(rs, replica{name: string(rune('A' + i)), m: m})
			}
			err := c.Check(ctx, rs...)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected failure: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("passed; want a failure saying %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("failure %v; want it to say %q", err, tc.want)
			}
		})
	}
}

func TestCheckReplicaError(t *testing.T) {
	c := New()
	c.Acked(Write{Space: "s", Key: "k", Value: c.Unique("n1")})
	err := c.Check(context.Background(), replica{name: "A", err: errors.New("connection refused")})
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("got %v, want the replica's error", err)
	}
}

func TestUniqueValuesRequired(t *testing.T) {
	c := New()
	c.Acked(Write{Space: "s", Key: "k", Value: "a"})
	defer func() {
		if recover() == nil {
			t.Fatal("a value written twice was accepted")
		}
	}()
	c.Acked(Write{Space: "s", Key: "k2", Value: "a"})
}
