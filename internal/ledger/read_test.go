package ledger

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"pgregory.net/rapid"
)

// TestRead: the reader keeps the entries that keep the energy app's rules
// and ignores the rest, whether or not the space enforces the rules.
func TestRead(t *testing.T) {
	e := func(key, value, device, signer string) Entry {
		return Entry{Key: key, Value: []byte(value), Device: device, Signer: signer, Wall: 10}
	}
	entries := []Entry{
		e("energy/transfer/ana/bob/1-d1", `{"milli":3000,"note":"sun"}`, "d1", "ana"),                             // kept
		e("energy/transfer/ana/bob/2-d2", `{"milli":3000}`, "d2", "bob"),                                          // under Ana's name
		e("energy/transfer/ana/bob/3-d2", `{"milli":3000}`, "d1", "ana"),                                          // names another device
		e("energy/transfer/ana/bob/4-d1", `{"milli":"3"}`, "d1", "ana"),                                           // not a number
		e("energy/transfer/ana/bob/5-d1", `{"note":"x"}`, "d1", "ana"),                                            // no amount
		e("energy/transfer/ana/bob/6-d1", `{"milli":1} {}`, "d1", "ana"),                                          // trailing data
		e("energy/transfer/ana/6-d1", `{"milli":1}`, "d1", "ana"),                                                 // short key
		e("energy/confirm/ana/bob/1-d1", `{"note":"thanks"}`, "d2", "bob"),                                        // kept
		e("energy/confirm/ana/bob/1-d1", `{}`, "d3", "cy"),                                                        // under Bob's name
		e("energy/limit/ana", `{"milli":5000}`, "d2", "bob"),                                                      // kept (Compute checks the admin)
		e("energy/limit/ana/x", `{"milli":5000}`, "d2", "bob"),                                                    // no layout
		e("energy/post/1-d1", `{"kind":"offer","kwh":2}`, "d1", "ana"),                                            // a post: not the ledger's, not counted
		e("energy/other/1-d1", `{}`, "d1", "ana"),                                                                 // no layout
		e("energy/transfer/ana/bob/7-d1", `{"milli":1,"note":"`+string(make([]byte, MaxValue))+`"}`, "d1", "ana"), // too long
	}
	in, ignored := Read(entries, map[string]bool{"bob": true}, 1000)
	if len(in.Transfers) != 1 || len(in.Confirms) != 1 || len(in.Limits) != 1 || ignored != 10 {
		t.Fatalf("read %d transfers, %d confirmations, %d limits, ignored %d: %+v", len(in.Transfers), len(in.Confirms), len(in.Limits), ignored, in)
	}
	tr := in.Transfers[0]
	if tr.From != "ana" || tr.To != "bob" || tr.ID != "1-d1" || tr.Milli != 3000 || tr.Note != "sun" || tr.At.By != "ana" {
		t.Errorf("transfer %+v", tr)
	}
	res := Compute(in)
	if res.Balances["ana"] != -3000 || res.Balances["bob"] != 3000 || res.Status[tr.Ref] != Applied {
		t.Errorf("ledger %+v", res)
	}
	// The giver rewrites the confirmed amount: the confirmation, which
	// names the amount it confirmed, no longer confirms it.
	in.Confirms[0].Milli = 3000
	if res := Compute(in); res.Status[tr.Ref] != Applied {
		t.Errorf("confirmed with its amount: %v", res.Status[tr.Ref])
	}
	in.Transfers[0].Milli = 30000
	if res := Compute(in); res.Status[tr.Ref] != Unconfirmed || res.Balances["ana"] != 0 {
		t.Errorf("rewritten after its confirmation: %v, balances %v", res.Status[tr.Ref], res.Balances)
	}
	if in.LimitNow("ana") != 5000 || in.LimitNow("bob") != 1000 {
		t.Errorf("limits now: ana %d, bob %d", in.LimitNow("ana"), in.LimitNow("bob"))
	}
}

// FuzzRead: whatever the keys and values, Read neither panics nor keeps
// an entry that breaks the layout, and the ledger it gives sums to zero.
func FuzzRead(f *testing.F) {
	f.Add("energy/transfer/ana/bob/1-d1", []byte(`{"milli":3000,"note":"sun"}`), "d1", "ana")
	f.Add("energy/confirm/ana/bob/1-d1", []byte(`{}`), "d2", "bob")
	f.Add("energy/limit/ana", []byte(`{"milli":5000}`), "d2", "bob")
	f.Add("energy/transfer/ana/ana/1-d1", []byte(`{"milli":-1}`), "d1", "ana")
	f.Add("energy/transfer///-", []byte(`null`), "", "")
	f.Fuzz(func(t *testing.T, key string, value []byte, device, signer string) {
		entries := []Entry{
			{Key: "energy/transfer/ana/bob/1-d1", Value: []byte(`{"milli":3000}`), Device: "d1", Signer: "ana", Wall: 1},
			{Key: "energy/confirm/ana/bob/1-d1", Value: []byte(`{}`), Device: "d2", Signer: "bob", Wall: 2},
			{Key: key, Value: value, Device: device, Signer: signer, Wall: 3},
		}
		in, _ := Read(entries, map[string]bool{"bob": true}, 1000)
		for _, tr := range in.Transfers {
			if tr.From != tr.At.By {
				t.Fatalf("kept a transfer under another's name: %+v", tr)
			}
		}
		var sum int64
		for _, b := range Compute(in).Balances {
			sum += b
		}
		if sum != 0 {
			t.Fatalf("balances sum to %d", sum)
		}
	})
}

// entriesOf writes in as a space holds it: each transfer, confirmation
// and limit as an entry under energy/, signed by a device of its signer
// ("d-" and the member). Transfer IDs become ID-DEVICE (the giver's
// device), as the layout has them, in the returned input too.
func entriesOf(in Input) (Input, []Entry) {
	rename := func(r Ref) Ref { return Ref{From: r.From, ID: r.ID + "-d-" + r.From} }
	out := Input{Admins: in.Admins, DefaultLimit: in.DefaultLimit, Limits: in.Limits}
	var es []Entry
	entry := func(key, value string, at Time) {
		es = append(es, Entry{Key: key, Value: []byte(value), Device: "d-" + at.By, Signer: at.By, Wall: at.Wall, Logical: at.Logical})
	}
	for _, t := range in.Transfers {
		t.Ref = rename(t.Ref)
		out.Transfers = append(out.Transfers, t)
		v, _ := json.Marshal(map[string]any{"milli": t.Milli, "note": t.Note})
		entry(transferPrefix+t.From+"/"+t.To+"/"+t.ID, string(v), t.At)
	}
	for _, c := range in.Confirms {
		c.Transfer = rename(c.Transfer)
		out.Confirms = append(out.Confirms, c)
		// The receiver the key names is the signer: a confirmation by
		// someone else names its signer, and Compute refuses it.
		entry(confirmPrefix+c.Transfer.From+"/"+c.At.By+"/"+c.Transfer.ID, fmt.Sprintf(`{"milli":%d}`, c.Milli), c.At)
	}
	for _, l := range in.Limits {
		entry(limitPrefix+l.Member, fmt.Sprintf(`{"milli":%d}`, l.Milli), l.At)
	}
	return out, es
}

// TestPropertyReadLedger: a ledger's entries written as a space holds
// them and read back (Read) give the ledger Compute gives of the entries
// themselves, forged ones included: the reader decides as the ledger
// does, so that every replica reading the same entries agrees.
func TestPropertyReadLedger(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		in, r := drawInput(rt)
		want, es := entriesOf(in)
		r.Shuffle(len(es), func(i, j int) { es[i], es[j] = es[j], es[i] })
		got, _ := Read(es, in.Admins, in.DefaultLimit)
		a, b := Compute(got), Compute(want)
		a.Ignored, b.Ignored = 0, 0 // the reader refuses forged transfers itself
		if !reflect.DeepEqual(a, b) {
			rt.Fatalf("read: %+v\nwant %+v", a, b)
		}
		checkInvariants(rt, "read", got, a)
	})
}
