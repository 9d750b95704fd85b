package acl_test

import (
	"testing"

	"github.com/loamdb/loam/internal/commit"
)

// TestCheckpointVerdictRules: only an admin of the whole space makes a
// checkpoint; any member with a grant (a reader, a seeder) gives a
// verdict, and a device without one does not.
func TestCheckpointVerdictRules(t *testing.T) {
	w := newWorld(t)
	admin, chatAdmin, ana, reader, seeder, stranger := dev(1), dev(2), dev(3), dev(4), dev(5), dev(6)
	g := w.genesis(grant(admin, commit.RoleAdmin),
		commit.GrantOp(commit.Grant{Subject: chatAdmin.Author(), Role: commit.RoleAdmin, Prefix: []byte("chat/")}),
		grant(ana, commit.RoleWrite), grant(reader, commit.RoleRead), grant(seeder, commit.RoleSeed))
	ck, err := commit.CheckpointOp(commit.Checkpoint{Frontier: []commit.FrontierHead{{Author: w.sk.Author(), Seq: 1, ID: g.ID, Time: g.Time}}})
	if err != nil {
		t.Fatal(err)
	}
	past := []*commit.Commit{g}
	byAdmin := w.at(admin, 2000, past, ck)
	byChatAdmin := w.at(chatAdmin, 2000, past, ck)
	byAna := w.at(ana, 2000, past, ck)
	verdict := func(ok bool) commit.Op {
		v := commit.Verdict{Checkpoint: byAdmin.ID, OK: ok}
		if !ok {
			v.Field = commit.CheckpointCells
		}
		o, err := commit.VerdictOp(v)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	past = append(past, byAdmin)
	anaOK := w.at(ana, 3000, past, verdict(true))
	readerDisputes := w.at(reader, 3000, past, verdict(false))
	seederOK := w.at(seeder, 3000, past, verdict(true))
	strangerOK := w.at(stranger, 3000, past, verdict(true))
	checkValid(t, w.eval(), []validity{
		{"an admin makes a checkpoint", byAdmin, true},
		{"chat's admin makes one", byChatAdmin, false},
		{"a writer makes one", byAna, false},
		{"a writer gives a verdict", anaOK, true},
		{"a reader disputes", readerDisputes, true},
		{"a seeder gives a verdict", seederOK, true},
		{"a stranger gives one", strangerOK, false},
	})
}
