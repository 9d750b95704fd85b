package acl_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

func eraseOf(t *testing.T, c *commit.Commit, ops ...int) commit.Op {
	t.Helper()
	var e commit.Erase
	for _, i := range ops {
		tg := commit.EraseTarget{Author: c.Author, Seq: c.Seq, ID: c.ID, Op: uint32(i)}
		if c.Ops[i].Kind.IsData() {
			tg.Key = c.Ops[i].Key
		}
		e.Targets = append(e.Targets, tg)
	}
	o, err := commit.EraseOp(e)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// TestEraseRules: a member erases its own writes; only an admin (of a
// prefix the key has, or of the whole space for a write whose key is not
// in the clear) erases another's.
func TestEraseRules(t *testing.T) {
	w := newWorld(t)
	admin, chatAdmin, ana, bo, seeder := dev(1), dev(2), dev(3), dev(4), dev(5)
	g := w.genesis(grant(admin, commit.RoleAdmin),
		commit.GrantOp(commit.Grant{Subject: chatAdmin.Author(), Role: commit.RoleAdmin, Prefix: []byte("chat/")}),
		grant(ana, commit.RoleWrite), grant(bo, commit.RoleWrite), grant(seeder, commit.RoleSeed))
	anaChat := w.at(ana, 2000, []*commit.Commit{g}, put("chat/1"), put("tools/drill"),
		commit.Op{Kind: commit.KindSealed, Payload: []byte("ciphertext")})
	past := []*commit.Commit{g, anaChat}

	own := w.at(ana, 3000, past, eraseOf(t, anaChat, 0, 1, 2))
	byAdmin := w.at(admin, 3000, past, eraseOf(t, anaChat, 0, 1, 2))
	byChatAdmin := w.at(chatAdmin, 3000, past, eraseOf(t, anaChat, 0))
	chatAdminTools := w.at(chatAdmin, 3100, past, eraseOf(t, anaChat, 1))
	chatAdminSealed := w.at(chatAdmin, 3200, past, eraseOf(t, anaChat, 2))
	byBo := w.at(bo, 3000, past, eraseOf(t, anaChat, 0))
	bySeeder := w.at(seeder, 3000, past, eraseOf(t, anaChat, 0))
	d := w.eval()
	checkValid(t, d, []validity{
		{"ana erases her own writes", own, true},
		{"an admin erases ana's", byAdmin, true},
		{"chat's admin erases under chat/", byChatAdmin, true},
		{"chat's admin erases under tools/", chatAdminTools, false},
		{"chat's admin erases a sealed write", chatAdminSealed, false},
		{"bo erases ana's", byBo, false},
		{"a seeder erases ana's", bySeeder, false},
	})
	// The denial names what was missing.
	st := d.State(w.sp())
	_, err := st.Check(byBo, func(keys.AuthorID, uint64) bool { return true })
	if !errors.Is(err, acl.ErrDenied) || !strings.Contains(err.Error(), `erasing `+ana.Author().Short()+`'s write to "chat/1"`) {
		t.Fatalf("bo's erase: %v", err)
	}
}

// TestRetentionRule: only an admin of the whole space sets the retention.
func TestRetentionRule(t *testing.T) {
	w := newWorld(t)
	admin, chatAdmin, ana := dev(1), dev(2), dev(3)
	g := w.genesis(grant(admin, commit.RoleAdmin),
		commit.GrantOp(commit.Grant{Subject: chatAdmin.Author(), Role: commit.RoleAdmin, Prefix: []byte("chat/")}),
		grant(ana, commit.RoleWrite))
	op, err := commit.RetentionOp(commit.Retention{Mode: commit.LiveOnly})
	if err != nil {
		t.Fatal(err)
	}
	byAdmin := w.at(admin, 2000, []*commit.Commit{g}, op)
	byChatAdmin := w.at(chatAdmin, 2000, []*commit.Commit{g}, op)
	byAna := w.at(ana, 2000, []*commit.Commit{g}, op)
	d := w.eval()
	if !valid(d, byAdmin) || valid(d, byChatAdmin) || valid(d, byAna) {
		t.Fatalf("valid: admin %v, chat's admin %v, a writer %v; want only the admin", valid(d, byAdmin), valid(d, byChatAdmin), valid(d, byAna))
	}
}
