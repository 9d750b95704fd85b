package node

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/identity"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/reconcile"
	"github.com/loamdb/loam/internal/schema"
	"github.com/loamdb/loam/internal/store"
)

// TestAppForgeriesRefusedByEveryReplica (#15, must show): with the rules
// Loam ships in force (schema.Apps), a member's forged entries of the
// board and the energy exchange, each signed by its own device and sent
// to every node itself, are held void by every replica, counted as a
// refusal (broken_app_rule), and never shown (neither by get nor by a
// range of their prefix): a message key naming another author; a vote
// under another member's key; a second vote for one poll (the member's
// own vote stands, one per person); a rewrite of a write-once poll; a
// transfer confirmed by someone who is not its receiver; a value that
// breaks its JSON Schema; a credit limit set by a member who is not an
// admin. The honest entries before each forgery stay as written.
func TestAppForgeriesRefusedByEveryReplica(t *testing.T) {
	ctx := ctxT(t)
	nodes, id, _ := line(t, 3)
	admin := nodes[0]
	ana := identity.KeyFromSeed([32]byte{9, 2}) // another member: the forgers hold no certificate of hers
	now := time.Now()
	ms := func(d time.Duration) string { return fmt.Sprint(now.Add(d).UnixMilli()) }
	poll := ms(0) + "-" + admin.Author().String()
	closes := now.Add(24 * time.Hour).UTC().Format(time.RFC3339)

	type forgery struct {
		name   string
		before [][]commit.Op // the forger's honest commits first
		forged []commit.Op   // then the one every replica must refuse
		key    string        // the forged key
		shown  string        // what the key shows after (the honest write), "" none
		prefix string        // a range of it must not show the forgery
		why    string        // in the reason it is void
	}
	cases := []func(dev keys.DeviceKey, person identity.Key) forgery{
		func(dev keys.DeviceKey, _ identity.Key) forgery {
			k := "chat/msg/general/" + ms(1) + "-" + admin.Author().String()
			return forgery{name: "a message under another author's name", key: k, prefix: "chat/msg/general/", why: "names author " + admin.Author().String(),
				forged: []commit.Op{commit.Put([]byte(k), []byte(`{"text":"I am the admin"}`))}}
		},
		func(dev keys.DeviceKey, _ identity.Key) forgery {
			k := "board/vote/" + poll + "/" + ana.ID().String()
			return forgery{name: "a vote under another member's key", key: k, prefix: "board/vote/" + poll + "/", why: "names person " + ana.ID().String(),
				forged: []commit.Op{commit.Put([]byte(k), []byte(`{"option":1}`))}}
		},
		func(dev keys.DeviceKey, person identity.Key) forgery {
			own := "board/vote/" + poll + "/" + person.ID().String()
			k := "board/vote/" + poll + "/" + ana.ID().String()
			return forgery{name: "a second vote for one poll", key: k, prefix: "board/vote/" + poll + "/", why: "names person " + ana.ID().String(),
				before: [][]commit.Op{{certOp(t, person, dev), commit.Put([]byte(own), []byte(`{"option":0}`))}},
				forged: []commit.Op{commit.Put([]byte(k), []byte(`{"option":0}`))}}
		},
		func(dev keys.DeviceKey, _ identity.Key) forgery {
			k := "board/poll/" + ms(2) + "-" + dev.Author().String()
			first := `{"question":"Paint the benches?","options":["green","blue"],"closes":"` + closes + `"}`
			return forgery{name: "a rewrite of a write-once poll", key: k, shown: first, prefix: "board/poll/", why: "written once",
				before: [][]commit.Op{{commit.Put([]byte(k), []byte(first))}},
				forged: []commit.Op{commit.Put([]byte(k), []byte(`{"question":"Paint the benches?","options":["green","blue"],"closes":"2099-01-01T00:00:00Z"}`))}}
		},
		func(dev keys.DeviceKey, person identity.Key) forgery {
			// person gives ana 3 kWh; the forger confirms it as if ana.
			transfer := ms(3) + "-" + dev.Author().String()
			k := "energy/confirm/" + person.ID().String() + "/" + ana.ID().String() + "/" + transfer
			return forgery{name: "a transfer confirmed by someone who is not its receiver", key: k, prefix: "energy/confirm/", why: "names person " + ana.ID().String(),
				before: [][]commit.Op{{certOp(t, person, dev), commit.Put([]byte("energy/transfer/"+person.ID().String()+"/"+ana.ID().String()+"/"+transfer), []byte(`{"milli":3000,"note":"surplus"}`))}},
				forged: []commit.Op{commit.Put([]byte(k), []byte(`{"note":"thanks"}`))}}
		},
		func(dev keys.DeviceKey, _ identity.Key) forgery {
			k := "board/poll/" + ms(4) + "-" + dev.Author().String()
			return forgery{name: "a value that breaks its JSON Schema", key: k, prefix: "board/poll/", why: `field "options" has 1 items`,
				forged: []commit.Op{commit.Put([]byte(k), []byte(`{"question":"Yes?","options":["yes"],"closes":"`+closes+`"}`))}}
		},
		func(dev keys.DeviceKey, person identity.Key) forgery {
			k := "energy/limit/" + person.ID().String()
			return forgery{name: "a credit limit set by a member who is not an admin", key: k, prefix: "energy/limit/", why: "only an admin",
				forged: []commit.Op{commit.Put([]byte(k), []byte(`{"milli":100000000}`))}}
		},
	}

	// The admin declares the rules Loam ships and lets each forger write.
	var setup []commit.Op
	var devs []keys.DeviceKey
	for i := range cases {
		dev := keys.DeviceKeyFromSeed([32]byte{byte(170 + i)})
		devs = append(devs, dev)
		setup = append(setup, commit.GrantOp(commit.Grant{Subject: dev.Author(), Role: commit.RoleWrite}))
	}
	for _, a := range schema.Apps {
		setup = append(setup, commit.SchemaOp(commit.Schema{App: a.Name, Version: a.Version, Body: a.Body}))
	}
	if _, err := commitOps(t, admin, id, setup...); err != nil {
		t.Fatal(err)
	}
	put(t, admin, id, "board/poll/"+poll, `{"question":"A new bench?","options":["yes","no"],"closes":"`+closes+`","ballot":"open"}`)
	waitFor(t, 15*time.Second, "the rules and the poll everywhere", func() bool { return holdKeys(nodes, id, "board/poll/"+poll) && converged(nodes, id) })

	disc := keys.DiscoveryID(id)
	for i, mk := range cases {
		dev := devs[i]
		person := identity.KeyFromSeed([32]byte{9, byte(10 + i)})
		f := mk(dev, person)
		t.Run(f.name, func(t *testing.T) {
			deps := headIDs(t, admin, id, keys.AuthorID{}) // every head
			var cs [][]byte
			prev, wall := keys.CommitID{}, uint64(time.Now().UnixMicro())
			for j, ops := range append(f.before, f.forged) {
				c, err := commit.Build(commit.Header{Space: id, Author: dev.Author(), Seq: uint64(j + 1), Prev: prev, Time: commit.HLC{Wall: wall + uint64(j)}, Deps: sortIDs(deps)}, ops, dev)
				if err != nil {
					t.Fatal(err)
				}
				cs, prev, deps = append(cs, c.Bytes()), c.ID, nil
			}
			forgedSeq := uint64(len(cs))
			h := bareHost(t, dev)
			for _, n := range nodes {
				_, conn := syncStream(t, h, n)
				conn.WriteFrame((&reconcile.Msg{Type: 1, Version: reconcile.Version, Spaces: []reconcile.SpaceProof{{Disc: disc, Proof: keys.SyncProof(id, dev.Author(), n.Author())}}}).Encode())
				conn.WriteFrame((&reconcile.Msg{Type: 3, Disc: disc, Commits: cs}).Encode())
			}
			for j, n := range nodes {
				waitFor(t, 15*time.Second, "the forger to be counted", func() bool { return n.Counters().Misbehaving["broken_app_rule"] == uint64(i+1) })
				voided, err := n.st.Voided(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				why := voided[acl.Loc{Author: dev.Author(), Seq: forgedSeq}]
				if !strings.Contains(why, "breaks the rules of app") || !strings.Contains(why, f.why) {
					t.Fatalf("node %d holds the forgery as %q, want void for breaking an app rule (%q)", j, why, f.why)
				}
				for s := uint64(1); s < forgedSeq; s++ {
					if why, bad := voided[acl.Loc{Author: dev.Author(), Seq: s}]; bad {
						t.Fatalf("node %d: the forger's honest commit %d is void: %s", j, s, why)
					}
				}
				e, err := n.st.Get(ctx, id, []byte(f.key))
				switch {
				case f.shown == "" && !errors.Is(err, store.ErrNotFound):
					t.Fatalf("node %d shows the forgery: %q, %v", j, e.Value, err)
				case f.shown != "" && (err != nil || string(e.Value) != f.shown):
					t.Fatalf("node %d: %s reads %q, %v, want the honest write %q", j, f.key, e.Value, err, f.shown)
				}
				for kv, err := range n.st.Range(ctx, id, store.Query{Prefix: []byte(f.prefix)}) {
					if err != nil {
						t.Fatal(err)
					}
					if kv.Entry.Author == dev.Author() && kv.Entry.Seq == forgedSeq {
						t.Fatalf("node %d: a range of %s shows the forgery %s", j, f.prefix, kv.Key)
					}
				}
			}
		})
	}

	// One vote per person: the poll's votes are the second-vote forger's
	// own, under its own identity, on every node.
	for j, n := range nodes {
		var votes []string
		for kv, err := range n.st.Range(ctx, id, store.Query{Prefix: []byte("board/vote/" + poll + "/")}) {
			if err != nil {
				t.Fatal(err)
			}
			votes = append(votes, strings.TrimPrefix(string(kv.Key), "board/vote/"+poll+"/"))
		}
		if want := identity.KeyFromSeed([32]byte{9, 12}).ID().String(); len(votes) != 1 || votes[0] != want {
			t.Fatalf("node %d: the poll's votes are by %v, want one, by %s", j, votes, want)
		}
	}
}

func certOp(t *testing.T, id identity.Key, d keys.DeviceKey) commit.Op {
	t.Helper()
	c, err := identity.NewCert(id, d, "forger's phone", uint64(time.Now().UnixMicro()))
	if err != nil {
		t.Fatal(err)
	}
	return commit.CertOp(c.Encode())
}
