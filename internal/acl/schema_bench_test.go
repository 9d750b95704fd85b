package acl_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

// BenchmarkCheckAppRules: deciding one commit of one chat message, with
// the chat's rules in force (a named key and a JSON Schema for the value)
// and without any; "once": with the message rule write-once, after 1000
// tracked messages of other keys.
func BenchmarkCheckAppRules(b *testing.B) {
	for _, tc := range []struct {
		name  string
		rules bool
		once  bool
	}{{"none", false, false}, {"chat", true, false}, {"once", true, true}} {
		b.Run(tc.name, func(b *testing.B) {
			w := &world{t: &testing.T{}, sk: keys.SpaceKeyFromSeed([32]byte{1}), heads: map[keys.AuthorID]*commit.Commit{}}
			admin, ada := dev(1), dev(2)
			g := w.genesis(grant(admin, commit.RoleAdmin), grant(ada, commit.RoleWrite))
			deps := []*commit.Commit{g}
			if tc.rules {
				body := chatRules
				if tc.once {
					body = strings.Replace(body, `"write":"named",`, `"write":"named","once":true,`, 1)
				}
				deps = []*commit.Commit{w.at(admin, 2000, deps, schemaOp("chat", 1, body))}
			}
			if tc.once {
				for i := range 1000 {
					deps = []*commit.Commit{w.at(admin, uint64(2001+i), deps, putv(fmt.Sprintf("chat/msg/general/%d-%s", 1795275000000+i, admin.Author()), `{"text":"x"}`))}
				}
			}
			st := acl.Evaluate(w.sp(), w.all, nil).State(w.sp())
			c := w.at(ada, 3000, deps, msg(ada, "Hello from Ada's kitchen"))
			all := func(keys.AuthorID, uint64) bool { return true }
			b.ReportAllocs()
			for b.Loop() {
				if _, err := st.Check(c, all); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEvaluateForgedPin: deciding a space of 20 members' 1000 chat
// messages with the chat's rules in force, with and without one member's
// pin that only an admin may write ("forged"): a write refused for its
// signer is checked against the grants of every commit, counting or not,
// which Evaluate computes once (one more pass over the set).
func BenchmarkEvaluateForgedPin(b *testing.B) {
	for _, forged := range []bool{false, true} {
		b.Run(fmt.Sprintf("forged=%v", forged), func(b *testing.B) {
			w := &world{t: &testing.T{}, sk: keys.SpaceKeyFromSeed([32]byte{1}), heads: map[keys.AuthorID]*commit.Commit{}}
			admin := dev(1)
			ops := []commit.Op{grant(admin, commit.RoleAdmin)}
			var members []keys.DeviceKey
			for i := range 20 {
				m := keys.DeviceKeyFromSeed([32]byte{5, byte(i)})
				members = append(members, m)
				ops = append(ops, grant(m, commit.RoleWrite))
			}
			g := w.genesis(ops...)
			s := w.at(admin, 2000, []*commit.Commit{g}, schemaOp("chat", 1, chatRules))
			for i := range 1000 {
				m := members[i%len(members)]
				w.at(m, uint64(3000+i), []*commit.Commit{s}, msg(m, "hi"))
			}
			if forged {
				w.at(members[0], 5000, []*commit.Commit{s}, putv("chat/pin/general", `"x"`))
			}
			b.ReportAllocs()
			for b.Loop() {
				d := acl.Evaluate(w.sp(), w.all, nil)
				if len(d.Invalid) != map[bool]int{false: 0, true: 1}[forged] {
					b.Fatalf("%d invalid", len(d.Invalid))
				}
			}
		})
	}
}
