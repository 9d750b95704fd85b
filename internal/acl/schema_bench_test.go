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
