package ledger

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"pgregory.net/rapid"
)

// drawInput draws a ledger's entries: members (the first is the admin),
// transfers, confirmations (some forged), limits (some by non-admins),
// and an equivocating giver. Times repeat at times, so ties are decided.
func drawInput(rt *rapid.T) (Input, *rand.Rand) {
	seed := rapid.Uint64().Draw(rt, "seed")
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	n := rapid.IntRange(2, 6).Draw(rt, "members")
	var ms []string
	for i := range n {
		ms = append(ms, fmt.Sprintf("m%d", i))
	}
	in := Input{Admins: map[string]bool{ms[0]: true}, DefaultLimit: int64(r.IntN(3)) * 1000}
	wall := uint64(1_000)
	at := func(by string) Time {
		wall += uint64(r.IntN(3)) // 0: a tie
		return Time{Wall: wall, Logical: uint32(r.IntN(2)), By: by}
	}
	other := func(not string) string {
		for {
			if m := ms[r.IntN(n)]; m != not {
				return m
			}
		}
	}
	for i := range rapid.IntRange(1, 60).Draw(rt, "events") {
		switch k := r.IntN(10); {
		case k < 4: // a transfer
			from := ms[r.IntN(n)]
			t := Transfer{Ref: Ref{From: from, ID: fmt.Sprint(i)}, To: other(from), Milli: int64(1 + r.IntN(5000)), Note: "kWh", At: at(from)}
			if r.IntN(20) == 0 {
				t.At.By = other(from) // forged: signed by another
			}
			in.Transfers = append(in.Transfers, t)
		case k < 8 && len(in.Transfers) > 0: // a confirmation
			t := in.Transfers[r.IntN(len(in.Transfers))]
			by := t.To
			if r.IntN(10) == 0 {
				by = other(t.To) // not the receiver
			}
			c := Confirm{Transfer: t.Ref, At: at(by)}
			switch r.IntN(4) {
			case 0, 1: // naming the amount confirmed
				c.Milli = t.Milli
			case 2: // naming another amount (the transfer was rewritten since)
				c.Milli = t.Milli + 1
			}
			in.Confirms = append(in.Confirms, c)
		case k < 9: // a limit
			by := ms[0]
			if r.IntN(5) == 0 {
				by = other(ms[0])
			}
			in.Limits = append(in.Limits, Limit{Member: ms[r.IntN(n)], Milli: int64(r.IntN(8)) * 1000, At: at(by)})
		case len(in.Transfers) > 0: // equivocation: another transfer under a held ID
			t := in.Transfers[r.IntN(len(in.Transfers))]
			t.Milli++
			t.At = at(t.From)
			in.Transfers = append(in.Transfers, t)
		}
	}
	return in, r
}

// subset returns the entries of in that keep says to keep, in a random
// order.
func subset(in Input, r *rand.Rand, keep func() bool) Input {
	out := Input{Admins: in.Admins, DefaultLimit: in.DefaultLimit}
	for _, t := range in.Transfers {
		if keep() {
			out.Transfers = append(out.Transfers, t)
		}
	}
	for _, c := range in.Confirms {
		if keep() {
			out.Confirms = append(out.Confirms, c)
		}
	}
	for _, l := range in.Limits {
		if keep() {
			out.Limits = append(out.Limits, l)
		}
	}
	r.Shuffle(len(out.Transfers), func(i, j int) { out.Transfers[i], out.Transfers[j] = out.Transfers[j], out.Transfers[i] })
	r.Shuffle(len(out.Confirms), func(i, j int) { out.Confirms[i], out.Confirms[j] = out.Confirms[j], out.Confirms[i] })
	r.Shuffle(len(out.Limits), func(i, j int) { out.Limits[i], out.Limits[j] = out.Limits[j], out.Limits[i] })
	return out
}

// checkInvariants checks res against in, computed independently: balances
// sum to zero and are what the applied transfers give; each applied
// transfer is the giver's only signed content under its ref, confirmed by
// its receiver (of its amount, when the confirmation names one), and kept
// the giver within the limit in force when it took effect (its receiver's
// earliest such confirmation).
func checkInvariants(rt *rapid.T, name string, in Input, res Result) {
	var sum int64
	for _, b := range res.Balances {
		sum += b
	}
	if sum != 0 {
		rt.Fatalf("%s: balances sum to %d", name, sum)
	}
	bal := map[string]int64{}
	for _, ref := range res.Applied {
		var t *Transfer
		for i := range in.Transfers {
			x := &in.Transfers[i]
			if x.Ref != ref || x.At.By != x.From {
				continue
			}
			if t != nil && (t.To != x.To || t.Milli != x.Milli || t.Note != x.Note) {
				rt.Fatalf("%s: %s applied though its giver signed two different transfers under it", name, ref)
			}
			t = x
		}
		if t == nil {
			rt.Fatalf("%s: %s applied without a transfer signed by its giver", name, ref)
		}
		var effect *Time
		for _, c := range in.Confirms {
			if c.Transfer == ref && c.At.By == t.To && (c.Milli == 0 || c.Milli == t.Milli) && (effect == nil || c.At.Compare(*effect) < 0) {
				effect = &c.At
			}
		}
		if effect == nil {
			rt.Fatalf("%s: %s applied without its receiver's confirmation", name, ref)
		}
		limit, set := in.DefaultLimit, (*Limit)(nil)
		for i := range in.Limits {
			l := &in.Limits[i]
			if l.Member != t.From || !in.Admins[l.At.By] || l.At.Compare(*effect) > 0 {
				continue
			}
			if set == nil || l.At.Compare(set.At) > 0 || l.At.Compare(set.At) == 0 && l.Milli > set.Milli {
				set = l
			}
		}
		if set != nil {
			limit = set.Milli
		}
		bal[t.From] -= t.Milli
		bal[t.To] += t.Milli
		if bal[t.From] < -limit {
			rt.Fatalf("%s: %s takes %s to %d, past its limit %d", name, ref, t.From, bal[t.From], limit)
		}
	}
	for m, b := range res.Balances {
		if bal[m] != b {
			rt.Fatalf("%s: %s's balance is %d, the applied transfers give %d", name, m, b, bal[m])
		}
	}
}

// TestPropertyLedger: random transfers, confirmations (some forged),
// limit changes (some by non-admins), one equivocating giver, delivered in
// any order and across a partition: every replica holding the same
// entries computes the same ledger; on each side of the partition and
// after it heals, balances sum to zero and no balance ever passes its
// limit; an equivocating giver is shown with the evidence and none of its
// equivocated transfers moves anything.
func TestPropertyLedger(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		in, r := drawInput(rt)
		want := Compute(in)
		checkInvariants(rt, "all", in, want)
		for i := range 3 {
			got := Compute(subset(in, r, func() bool { return true }))
			if !reflect.DeepEqual(got, want) {
				rt.Fatalf("order %d: %+v\nwant %+v", i, got, want)
			}
		}
		// A partition: each side holds some of the entries (some both).
		a := subset(in, r, func() bool { return r.IntN(3) != 1 })
		b := subset(in, r, func() bool { return r.IntN(3) != 0 })
		checkInvariants(rt, "side a", a, Compute(a))
		checkInvariants(rt, "side b", b, Compute(b))
		for ref, s := range want.Status {
			if s == Equivocated && len(want.Equivocations[ref.From]) == 0 {
				rt.Fatalf("%s is equivocated without evidence", ref)
			}
		}
		for from, pairs := range want.Equivocations {
			for _, p := range pairs {
				if p[0].Ref != p[1].Ref || p[0].From != from || want.Status[p[0].Ref] != Equivocated {
					rt.Fatalf("bad evidence against %s: %+v", from, p)
				}
			}
		}
	})
}
