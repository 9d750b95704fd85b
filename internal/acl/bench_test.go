package acl_test

import (
	"testing"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

// BenchmarkEvaluatePeople decides a space of one person's 40 devices, each
// carrying its certificate and writing 25 commits, 20 of them revoked by
// the identity one after another: every accepted revocation re-runs a
// pass, which decides every certificate again.
func BenchmarkEvaluatePeople(b *testing.B) {
	t := &testing.T{}
	w := &world{t: t, sk: keys.SpaceKeyFromSeed([32]byte{1}), heads: map[keys.AuthorID]*commit.Commit{}}
	admin := dev(1)
	g := w.genesis(grant(admin, commit.RoleAdmin), personGrant(ana, commit.RoleWrite))
	var devs []keys.DeviceKey
	var firsts []*commit.Commit
	for i := range 40 {
		d := keys.DeviceKeyFromSeed([32]byte{9, byte(i)})
		devs = append(devs, d)
		firsts = append(firsts, w.at(d, 2000+uint64(i), []*commit.Commit{g}, certOp(t, ana, d), put("k")))
		for j := range 24 {
			w.at(d, 3000+uint64(i*100+j), nil, put("k"))
		}
	}
	for i := range 20 {
		w.at(devs[39], 9000+uint64(i), firsts, devRevokeOp(t, ana, devs[i], 10))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		d := acl.Evaluate(w.sp(), w.all, nil)
		if len(d.Revocations) != 20 {
			b.Fatalf("%d revocations", len(d.Revocations))
		}
	}
}
