// Package ledger computes the energy exchange's mutual-credit ledger (#15)
// from its signed entries: transfers written by their givers, each
// confirmed by its receiver, and credit limits set by admins. Balances
// come from confirmed transfers only, so they always sum to zero.
//
// Compute is a pure function of the set of entries: every replica holding
// the same entries computes the same balances, whatever order they
// arrived in. It decides in one canonical order (the confirmations'
// signed times), so when two sides of a partition each accepted a
// transfer and together they would take a giver past its limit, the
// later one is voided on both sides once they hold both: no balance ever
// passes the limit in force when a transfer takes effect.
//
// Who may write which entry (a giver its transfers, a receiver its
// confirmations, admins the limits) is the space's app rules (docs/apps.md,
// internal/schema); this package also ignores entries that break those
// rules, so a reader without them computes the same ledger.
package ledger

import (
	"cmp"
	"fmt"
	"slices"
)

// Time is a signed commit time (HLC: wall microseconds, then logical),
// with the signer as the last tie-break: the order entries take effect in.
type Time struct {
	Wall    uint64
	Logical uint32
	By      string // the signer, as the ledger names members
}

// Compare orders times: wall, logical, then signer.
func (a Time) Compare(b Time) int {
	if c := cmp.Compare(a.Wall, b.Wall); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Logical, b.Logical); c != 0 {
		return c
	}
	return cmp.Compare(a.By, b.By)
}

// Ref names a transfer: its giver and the giver's ID for it.
type Ref struct {
	From string
	ID   string
}

func (r Ref) String() string { return r.From + "/" + r.ID }

// Transfer is a giver's signed promise of Milli thousandths of a kWh to
// To. At.By is its signer, which must be From.
type Transfer struct {
	Ref
	To    string
	Milli int64
	Note  string
	At    Time
}

// Confirm is a receiver's signed confirmation of a transfer; At.By is its
// signer, which must be the transfer's To. Milli, when not 0, is the
// amount the receiver confirmed: it confirms the transfer only while the
// transfer says that amount, so a giver who rewrites a confirmed transfer's
// amount needs a new confirmation.
type Confirm struct {
	Transfer Ref
	At       Time
	Milli    int64
}

// Limit sets how far below zero Member's balance may go (Milli, ≥ 0),
// from At on. At.By must be an admin (Input.Admins).
type Limit struct {
	Member string
	Milli  int64
	At     Time
}

// Input is what a replica holds of a ledger.
type Input struct {
	Transfers []Transfer
	Confirms  []Confirm
	Limits    []Limit
	// Admins are the members whose limits count.
	Admins map[string]bool
	// DefaultLimit is the limit of a member no admin set one for.
	DefaultLimit int64
}

// Status says what became of a transfer.
type Status int

const (
	// Unconfirmed: no confirmation by its receiver is held.
	Unconfirmed Status = iota
	// Applied: confirmed, and within the giver's limit: it moved the kWh.
	Applied
	// PastLimit: confirmed, but it would have taken the giver below its
	// limit when it took effect: void.
	PastLimit
	// Equivocated: its giver signed two different transfers under its
	// ID: both are void, and the giver is shown with the evidence.
	Equivocated
	// Invalid: to the giver itself, or of no positive amount: void.
	Invalid
)

func (s Status) String() string {
	switch s {
	case Unconfirmed:
		return "unconfirmed"
	case Applied:
		return "applied"
	case PastLimit:
		return "past the giver's limit"
	case Equivocated:
		return "equivocated"
	case Invalid:
		return "invalid"
	}
	return fmt.Sprintf("status(%d)", int(s))
}

// Result is the computed ledger.
type Result struct {
	// Balances holds every member a transfer names, in thousandths of a
	// kWh; they sum to zero.
	Balances map[string]int64
	// Status holds every transfer's outcome, by ref.
	Status map[Ref]Status
	// Applied lists the applied transfers in the order they took effect
	// (their confirmations' times).
	Applied []Ref
	// Effect holds, per confirmed transfer (applied or past the limit),
	// the time it took effect: its receiver's earliest confirmation.
	Effect map[Ref]Time
	// Equivocations holds, per giver, the pairs of different transfers it
	// signed under one ID: the evidence.
	Equivocations map[string][][2]Transfer
	// Ignored counts entries that break the rules: transfers signed by
	// someone other than their giver, confirmations by someone other than
	// the receiver, limits not set by an admin.
	Ignored int
}

// Compute decides the ledger of in.
func Compute(in Input) Result {
	r := Result{Balances: map[string]int64{}, Status: map[Ref]Status{}, Equivocations: map[string][][2]Transfer{}, Effect: map[Ref]Time{}}

	// Transfers by ref, the earliest signed first; two different ones
	// under one ref are equivocation (the same one signed again is not).
	ts := slices.Clone(in.Transfers)
	slices.SortFunc(ts, func(a, b Transfer) int { return compareTransfers(&a, &b) })
	byRef := map[Ref]*Transfer{}
	equivocated := map[Ref]bool{}
	for i := range ts {
		t := &ts[i]
		if t.At.By != t.From {
			r.Ignored++ // signed by someone else: not the giver's
			continue
		}
		prev, ok := byRef[t.Ref]
		switch {
		case !ok:
			byRef[t.Ref] = t
		case prev.To != t.To || prev.Milli != t.Milli || prev.Note != t.Note:
			r.Equivocations[t.From] = append(r.Equivocations[t.From], [2]Transfer{*prev, *t})
			equivocated[t.Ref] = true
		}
	}
	for ref, t := range byRef {
		switch {
		case equivocated[ref]:
			r.Status[ref] = Equivocated
			delete(byRef, ref)
		case t.To == t.From || t.To == "" || t.Milli <= 0:
			r.Status[ref] = Invalid
			delete(byRef, ref)
		default:
			r.Status[ref] = Unconfirmed
		}
	}

	// Limits in force, per member, in time order.
	ls := map[string][]Limit{}
	for _, l := range in.Limits {
		if !in.Admins[l.At.By] || l.Milli < 0 {
			r.Ignored++
			continue
		}
		ls[l.Member] = append(ls[l.Member], l)
	}
	for _, l := range ls {
		slices.SortFunc(l, func(a, b Limit) int {
			if c := a.At.Compare(b.At); c != 0 {
				return c
			}
			return cmp.Compare(a.Milli, b.Milli)
		})
	}
	limit := func(m string, at Time) int64 {
		out := in.DefaultLimit
		for _, l := range ls[m] {
			if l.At.Compare(at) > 0 {
				break
			}
			out = l.Milli
		}
		return out
	}

	// Each transfer takes effect at its receiver's first confirmation.
	effect := map[Ref]Time{}
	for _, c := range in.Confirms {
		t, ok := byRef[c.Transfer]
		if !ok {
			continue // unknown (not held yet), invalid or equivocated
		}
		if c.At.By != t.To {
			r.Ignored++
			continue
		}
		if c.Milli != 0 && c.Milli != t.Milli {
			continue // it confirmed another amount: the transfer was rewritten since
		}
		if e, ok := effect[c.Transfer]; !ok || c.At.Compare(e) < 0 {
			effect[c.Transfer] = c.At
		}
	}
	type taking struct {
		t  *Transfer
		at Time
	}
	order := make([]taking, 0, len(effect))
	for ref, at := range effect {
		if r.Status[ref] == Unconfirmed {
			order = append(order, taking{byRef[ref], at})
		}
	}
	slices.SortFunc(order, func(a, b taking) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.t.From, b.t.From), cmp.Compare(a.t.ID, b.t.ID))
	})
	for _, o := range order {
		t, ref := o.t, o.t.Ref
		r.Effect[ref] = o.at
		if r.Balances[t.From]-t.Milli < -limit(t.From, o.at) {
			r.Status[ref] = PastLimit
			continue
		}
		r.Balances[t.From] -= t.Milli
		r.Balances[t.To] += t.Milli
		r.Status[ref] = Applied
		r.Applied = append(r.Applied, ref)
	}
	for _, t := range byRef {
		for _, m := range []string{t.From, t.To} {
			if _, ok := r.Balances[m]; !ok {
				r.Balances[m] = 0
			}
		}
	}
	return r
}

// compareTransfers orders transfers by every field, so that the same set
// sorts the same way whatever order it came in.
func compareTransfers(a, b *Transfer) int {
	return cmp.Or(
		cmp.Compare(a.From, b.From), cmp.Compare(a.ID, b.ID),
		a.At.Compare(b.At), cmp.Compare(a.To, b.To),
		cmp.Compare(a.Milli, b.Milli), cmp.Compare(a.Note, b.Note),
	)
}
