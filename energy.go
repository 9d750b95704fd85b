package loam

import (
	"context"
	"io"
	"time"

	"github.com/loamdb/loam/internal/api"
)

// The energy exchange (#15, docs/apps.md "Energy exchange"): members post
// offers and requests of surplus kWh under energy/post/, and keep a
// mutual-credit ledger: a transfer written by its giver, confirmed by its
// receiver, each signing its own key; balances come from confirmed
// transfers, sum to zero, and never pass a member's credit limit, which
// admins set. Space.Ledger computes it, the same embedded and through a
// daemon.

// DefaultLedgerLimit is how far below zero (thousandths of a kWh) a
// member's balance may go when no admin set their limit.
const DefaultLedgerLimit = api.DefaultLimit

// Transfer statuses (LedgerTransfer.Status).
const (
	TransferWaiting     = api.TransferWaiting     // not confirmed by its receiver yet
	TransferConfirmed   = api.TransferConfirmed   // confirmed: it moved the kWh
	TransferPastLimit   = api.TransferPastLimit   // confirmed, but past the giver's limit when it took effect: void
	TransferEquivocated = api.TransferEquivocated // its giver signed two different transfers under its ID: void
	TransferInvalid     = api.TransferInvalid     // to the giver itself, or of no positive amount: void
)

// Ledger is a space's energy ledger. Amounts are in thousandths of a kWh.
type Ledger struct {
	// Accounts: every member (a person by identity, idt_…; a device
	// without one by author ID) with their balance and limit, by name.
	// The balances sum to zero.
	Accounts []LedgerAccount `json:"accounts"`
	// Transfers: every transfer held, newest first, with its status.
	Transfers    []LedgerTransfer `json:"transfers"`
	DefaultLimit int64            `json:"default_limit_milli"`
	// Ignored counts entries under energy/ that break the app's rules and
	// so do not count (forged, or of a value that does not decode).
	Ignored int `json:"ignored"`
}

// LedgerAccount is one member's account.
type LedgerAccount struct {
	Member  string `json:"member"`
	Name    string `json:"name,omitempty"` // the person's profile name
	Balance int64  `json:"balance_milli"`
	Limit   int64  `json:"limit_milli"` // how far below zero the balance may go
	Admin   bool   `json:"admin,omitempty"`
	// Forked is the evidence that the member signed two different things
	// as one (a forked device, or two transfers under one ID).
	Forked []LedgerFork `json:"forked,omitempty"`
}

// LedgerFork is one piece of evidence against a member.
type LedgerFork struct {
	Device   string          `json:"device,omitempty"`
	Seq      uint64          `json:"seq,omitempty"`
	Transfer string          `json:"transfer,omitempty"`
	A        *LedgerTransfer `json:"a,omitempty"`
	B        *LedgerTransfer `json:"b,omitempty"`
	Evidence string          `json:"evidence"`
}

// LedgerTransfer is one transfer and what became of it.
type LedgerTransfer struct {
	Key         string     `json:"key"`
	ID          string     `json:"id"`
	From        string     `json:"from"`
	FromName    string     `json:"from_name,omitempty"`
	To          string     `json:"to"`
	ToName      string     `json:"to_name,omitempty"`
	Milli       int64      `json:"milli"`
	Note        string     `json:"note,omitempty"`
	At          time.Time  `json:"at"`
	ConfirmedAt *time.Time `json:"confirmed_at,omitempty"`
	Status      string     `json:"status"`
}

// StatementLine is one line of a member's statement.
type StatementLine struct {
	Date         time.Time `json:"date"`
	Counterparty string    `json:"counterparty"`
	Name         string    `json:"name,omitempty"`
	In           int64     `json:"in_milli"`
	Out          int64     `json:"out_milli"`
	Balance      int64     `json:"balance_milli"`
	Note         string    `json:"note,omitempty"`
	Status       string    `json:"status"`
}

// ledgerSpace is what a Space implementation does for the ledger.
type ledgerSpace interface {
	ledger(ctx context.Context) (api.Ledger, error)
}

// Ledger computes the space's energy ledger from the entries held here.
func (s *Space) Ledger(ctx context.Context) (Ledger, error) {
	l, err := s.impl.ledger(ctx)
	if err != nil {
		return Ledger{}, err
	}
	return ledgerOf(l), nil
}

// Statement returns member's statement (idt_… or aut_…): every transfer
// to or from them, oldest first, with the balance after each.
func (s *Space) Statement(ctx context.Context, member string) ([]StatementLine, error) {
	l, err := s.impl.ledger(ctx)
	if err != nil {
		return nil, err
	}
	var out []StatementLine
	for _, x := range api.StatementOf(l, member) {
		out = append(out, StatementLine(x))
	}
	return out, nil
}

// WriteStatementCSV writes a statement as CSV with a header row (date,
// counterparty, kwh_in, kwh_out, balance_kwh, note, status), as the API
// serves it.
func WriteStatementCSV(w io.Writer, lines []StatementLine) error {
	in := make([]api.StatementLine, len(lines))
	for i, l := range lines {
		in[i] = api.StatementLine(l)
	}
	return api.WriteStatementCSV(w, in)
}

// ledgerOf converts the API's ledger, the one form both sides compute.
func ledgerOf(l api.Ledger) Ledger {
	out := Ledger{Accounts: make([]LedgerAccount, len(l.Accounts)), Transfers: make([]LedgerTransfer, len(l.Transfers)), DefaultLimit: l.DefaultLimit, Ignored: l.Ignored}
	for i, a := range l.Accounts {
		o := LedgerAccount{Member: a.Member, Name: a.Name, Balance: a.Balance, Limit: a.Limit, Admin: a.Admin}
		for _, f := range a.Forked {
			of := LedgerFork{Device: f.Device, Seq: f.Seq, Transfer: f.Transfer, Evidence: f.Evidence}
			if f.A != nil {
				x := LedgerTransfer(*f.A)
				of.A = &x
			}
			if f.B != nil {
				x := LedgerTransfer(*f.B)
				of.B = &x
			}
			o.Forked = append(o.Forked, of)
		}
		out.Accounts[i] = o
	}
	for i, t := range l.Transfers {
		out.Transfers[i] = LedgerTransfer(t)
	}
	return out
}
