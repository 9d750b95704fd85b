package api

import (
	"bytes"
	"cmp"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/ledger"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/view"
)

// The energy exchange's ledger (#15, docs/apps.md "Energy exchange"):
// GET /v1/spaces/{space}/ledger computes it from the space's entries
// under energy/; GET /v1/spaces/{space}/ledger/statement?person=ID is
// one member's statement as CSV.

// DefaultLimit is how far below zero (in thousandths of a kWh) a member's
// balance may go when no admin set their limit: 10 kWh.
const DefaultLimit = 10_000

// Transfer statuses, as the ledger reports them.
const (
	TransferWaiting     = "waiting"     // not confirmed by its receiver yet
	TransferConfirmed   = "confirmed"   // confirmed: it moved the kWh
	TransferPastLimit   = "past_limit"  // confirmed, but past the giver's limit when it took effect: void
	TransferEquivocated = "equivocated" // its giver signed two different transfers under its ID: void
	TransferInvalid     = "invalid"     // to the giver itself, or of no positive amount: void
)

// Ledger is the energy exchange's ledger of a space.
type Ledger struct {
	// Accounts are the members (people, by identity; devices without one,
	// by author ID) the roster or a transfer names, by name then ID.
	// Their balances sum to zero.
	Accounts []LedgerAccount `json:"accounts"`
	// Transfers are every transfer held, newest first.
	Transfers []LedgerTransfer `json:"transfers"`
	// DefaultLimit is the limit of a member no admin set one for.
	DefaultLimit int64 `json:"default_limit_milli"`
	// Ignored counts the entries under energy/ that break the app's rules
	// (a transfer under another's name, a confirmation by someone not the
	// receiver, a limit not set by an admin, a value that does not decode).
	Ignored int `json:"ignored"`
}

// LedgerAccount is one member's account.
type LedgerAccount struct {
	Member  string `json:"member"` // idt_… or aut_…
	Name    string `json:"name,omitempty"`
	Balance int64  `json:"balance_milli"`
	Limit   int64  `json:"limit_milli"` // how far below zero the balance may go
	Admin   bool   `json:"admin,omitempty"`
	// Forked holds the evidence that the member signed two different
	// things as one: a device's fork (two commits with one seq) or two
	// different transfers under one ID.
	Forked []LedgerFork `json:"forked,omitempty"`
}

// LedgerFork is one piece of evidence against a member.
type LedgerFork struct {
	Device string `json:"device,omitempty"` // the device that forked (aut_…)
	Seq    uint64 `json:"seq,omitempty"`    // the seq it signed two different commits at
	// Transfer is the ID of a transfer signed twice with different
	// contents; A and B are the two versions.
	Transfer string          `json:"transfer,omitempty"`
	A        *LedgerTransfer `json:"a,omitempty"`
	B        *LedgerTransfer `json:"b,omitempty"`
	Evidence string          `json:"evidence"` // the evidence, in a sentence
}

// LedgerTransfer is one transfer and what became of it.
type LedgerTransfer struct {
	Key      string    `json:"key"`
	ID       string    `json:"id"` // the key's last segment, which confirmations name
	From     string    `json:"from"`
	FromName string    `json:"from_name,omitempty"`
	To       string    `json:"to"`
	ToName   string    `json:"to_name,omitempty"`
	Milli    int64     `json:"milli"`
	Note     string    `json:"note,omitempty"`
	At       time.Time `json:"at"`
	// ConfirmedAt is when it took effect: its receiver's first
	// confirmation.
	ConfirmedAt *time.Time `json:"confirmed_at,omitempty"`
	Status      string     `json:"status"`
}

func (s *Server) ledger(r *http.Request, sp *space.Space) (Ledger, error) {
	ms, ps, err := s.n.Roster(r.Context(), sp.ID().String())
	if err != nil {
		return Ledger{}, err
	}
	return LedgerOf(r.Context(), sp, ms, ps)
}

// statement answers one member's statement as CSV.
func (s *Server) statement(w http.ResponseWriter, r *http.Request) {
	person := r.URL.Query().Get("person")
	if person == "" {
		writeError(w, badRequestf("name the member whose statement to give: ?person=idt_… (a person) or aut_… (a device without one)"))
		return
	}
	sp, err := s.space(r)
	if err != nil {
		writeError(w, err)
		return
	}
	l, err := s.ledger(r, sp)
	if err != nil {
		writeError(w, err)
		return
	}
	var b bytes.Buffer
	if err := WriteStatementCSV(&b, StatementOf(l, person)); err != nil {
		writeError(w, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="statement-%s.csv"`, fileSafe(person)))
	w.WriteHeader(http.StatusOK)
	w.Write(b.Bytes())
}

// fileSafe keeps the letters, digits, '_' and '-' of s.
func fileSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return -1
	}, s)
}

// Ledger returns the energy exchange's ledger of space sp:
// GET /v1/spaces/{space}/ledger.
func (c *Client) Ledger(ctx context.Context, sp string) (Ledger, error) {
	return callFor[Ledger](ctx, c, http.MethodGet, spacePath(sp, "/ledger"), nil)
}

// LedgerOf computes the ledger of sp from its entries under energy/ (every
// concurrent version of a transfer, so that equivocation shows) and its
// roster (ms, ps: who speaks for whom, who is an admin, names, forks): the
// one reader, for the API and the root package alike.
func LedgerOf(ctx context.Context, sp *space.Space, ms []space.Member, ps []space.Person) (Ledger, error) {
	signer := map[keys.AuthorID]string{}
	names := map[string]string{}
	admins := map[string]bool{}
	var members []string
	for _, m := range ms {
		if m.Invite {
			continue
		}
		id := m.Author.String()
		if !m.Identity.IsZero() {
			id = m.Identity.String()
		} else {
			members = append(members, id)
		}
		signer[m.Author] = id
		if adminOfLedger(m.Role, m.Grants) {
			admins[id] = true
		}
	}
	for _, p := range ps {
		id := p.Identity.String()
		members = append(members, id)
		names[id] = p.Profile.Name
		if adminOfLedger(p.Role, p.Grants) {
			admins[id] = true
		}
	}

	var entries []ledger.Entry
	add := func(key []byte, e view.Entry) {
		if e.Kind != commit.KindPut || e.Erased || e.Author.IsZero() {
			return
		}
		who, ok := signer[e.Author]
		if !ok {
			who = e.Author.String() // a device no grant names (revoked and gone): its own account
		}
		entries = append(entries, ledger.Entry{Key: string(key), Value: e.Value, Device: e.Author.String(), Signer: who, Wall: e.Time.Wall, Logical: e.Time.Logical})
	}
	for kv, err := range sp.Range(ctx, store.Query{Prefix: []byte(ledger.Prefix)}) {
		if err != nil {
			return Ledger{}, err
		}
		add(kv.Key, kv.Entry)
		if bytes.HasPrefix(kv.Key, []byte(ledger.Prefix+"transfer/")) {
			cs, err := sp.Conflicts(ctx, kv.Key)
			if err != nil {
				return Ledger{}, err
			}
			for _, c := range cs {
				add(kv.Key, c)
			}
		}
	}
	in, ignored := ledger.Read(entries, admins, DefaultLimit)
	res := ledger.Compute(in)

	out := Ledger{Accounts: []LedgerAccount{}, Transfers: []LedgerTransfer{}, DefaultLimit: DefaultLimit, Ignored: ignored + res.Ignored}
	accounts := map[string]*LedgerAccount{}
	account := func(id string) *LedgerAccount {
		if a, ok := accounts[id]; ok {
			return a
		}
		a := &LedgerAccount{Member: id, Name: names[id], Limit: in.LimitNow(id), Admin: admins[id]}
		accounts[id] = a
		return a
	}
	for _, id := range members {
		account(id)
	}
	for id, b := range res.Balances {
		account(id).Balance = b
	}
	for _, m := range ms {
		if m.ForkedAt == 0 || m.Invite {
			continue
		}
		a := account(signer[m.Author])
		a.Forked = append(a.Forked, LedgerFork{Device: m.Author.String(), Seq: m.ForkedAt,
			Evidence: fmt.Sprintf("device %s signed two different commits as its number %d: its key is used on two devices, or was stolen; its commits from there on do not count", m.Author, m.ForkedAt)})
	}

	transfer := func(t ledger.Transfer) LedgerTransfer {
		lt := LedgerTransfer{Key: ledger.Prefix + "transfer/" + t.From + "/" + t.To + "/" + t.ID, ID: t.ID, From: t.From, FromName: names[t.From], To: t.To, ToName: names[t.To],
			Milli: t.Milli, Note: t.Note, At: commit.HLC{Wall: t.At.Wall, Logical: t.At.Logical}.Time().UTC(), Status: statusOf(res.Status[t.Ref])}
		if e, ok := res.Effect[t.Ref]; ok {
			at := commit.HLC{Wall: e.Wall}.Time().UTC()
			lt.ConfirmedAt = &at
		}
		return lt
	}
	seen := map[ledger.Ref]bool{}
	for _, t := range in.Transfers {
		if t.At.By != t.From || seen[t.Ref] {
			continue
		}
		seen[t.Ref] = true
		out.Transfers = append(out.Transfers, transfer(t))
	}
	for from, pairs := range res.Equivocations {
		a := account(from)
		for _, p := range pairs {
			x, y := transfer(p[0]), transfer(p[1])
			a.Forked = append(a.Forked, LedgerFork{Transfer: p[0].ID, A: &x, B: &y,
				Evidence: fmt.Sprintf("signed two different transfers as %s (%s kWh to %s, and %s kWh to %s): both are void", p[0].ID, KWh(x.Milli), cmp.Or(x.ToName, x.To), KWh(y.Milli), cmp.Or(y.ToName, y.To))})
		}
	}
	for _, a := range accounts {
		slices.SortFunc(a.Forked, func(x, y LedgerFork) int {
			return cmp.Or(strings.Compare(x.Device, y.Device), strings.Compare(x.Transfer, y.Transfer), strings.Compare(x.Evidence, y.Evidence))
		})
		out.Accounts = append(out.Accounts, *a)
	}
	slices.SortFunc(out.Accounts, func(x, y LedgerAccount) int {
		return cmp.Or(cmp.Compare(unnamed(x), unnamed(y)), strings.Compare(x.Name, y.Name), strings.Compare(x.Member, y.Member))
	})
	slices.SortFunc(out.Transfers, func(x, y LedgerTransfer) int {
		return cmp.Or(y.At.Compare(x.At), strings.Compare(x.Key, y.Key))
	})
	return out, nil
}

// adminOfLedger reports whether a member whose role in force is role, by
// grants, is an admin over energy/.
func adminOfLedger(role commit.Role, grants []space.MemberGrant) bool {
	if role != commit.RoleAdmin {
		return false
	}
	for _, g := range grants {
		if g.Role == commit.RoleAdmin && bytes.HasPrefix([]byte(ledger.Prefix), g.Prefix) {
			return true
		}
	}
	return false
}

func statusOf(s ledger.Status) string {
	switch s {
	case ledger.Applied:
		return TransferConfirmed
	case ledger.PastLimit:
		return TransferPastLimit
	case ledger.Equivocated:
		return TransferEquivocated
	case ledger.Invalid:
		return TransferInvalid
	}
	return TransferWaiting
}

// KWh formats thousandths of a kWh as kWh: "3", "2.5", "-0.125".
func KWh(milli int64) string {
	s := strconv.FormatFloat(float64(milli)/1000, 'f', 3, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		s = "0"
	}
	return s
}

// StatementLine is one line of a member's statement.
type StatementLine struct {
	Date         time.Time `json:"date"` // when it took effect (confirmed), else when it was signed
	Counterparty string    `json:"counterparty"`
	Name         string    `json:"name,omitempty"` // the counterparty's
	In           int64     `json:"in_milli"`
	Out          int64     `json:"out_milli"`
	Balance      int64     `json:"balance_milli"` // after this line: only confirmed transfers move it
	Note         string    `json:"note,omitempty"`
	Status       string    `json:"status"`
}

// StatementOf returns member's statement from l: every transfer to or
// from member, oldest first, with the balance after each.
func StatementOf(l Ledger, member string) []StatementLine {
	var out []StatementLine
	for _, t := range l.Transfers {
		if t.From != member && t.To != member {
			continue
		}
		line := StatementLine{Date: t.At, Note: t.Note, Status: t.Status}
		if t.ConfirmedAt != nil {
			line.Date = *t.ConfirmedAt
		}
		if t.From == member {
			line.Counterparty, line.Name, line.Out = t.To, t.ToName, t.Milli
		} else {
			line.Counterparty, line.Name, line.In = t.From, t.FromName, t.Milli
		}
		out = append(out, line)
	}
	slices.SortStableFunc(out, func(x, y StatementLine) int { return x.Date.Compare(y.Date) })
	var bal int64
	for i := range out {
		if out[i].Status == TransferConfirmed {
			bal += out[i].In - out[i].Out
		}
		out[i].Balance = bal
	}
	return out
}

// StatementHeader is the CSV statement's header row.
var StatementHeader = []string{"date", "counterparty", "kwh_in", "kwh_out", "balance_kwh", "note", "status"}

// WriteStatementCSV writes a statement as CSV with a header row: the date
// (RFC 3339, UTC), the counterparty's name (its ID without one), kWh in
// and out, the balance after the line, the note and the status.
func WriteStatementCSV(w io.Writer, lines []StatementLine) error {
	cw := csv.NewWriter(w)
	cw.Write(StatementHeader)
	for _, l := range lines {
		in, out := "", ""
		if l.In != 0 {
			in = KWh(l.In)
		}
		if l.Out != 0 {
			out = KWh(l.Out)
		}
		cw.Write([]string{l.Date.UTC().Format(time.RFC3339), csvSafe(cmp.Or(l.Name, l.Counterparty)), in, out, KWh(l.Balance), csvSafe(l.Note), l.Status})
	}
	cw.Flush()
	return cw.Error()
}

// csvSafe keeps a cell a spreadsheet would take for a formula (=, +, -,
// @ first) as text, with a leading quote.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func unnamed(a LedgerAccount) int {
	if a.Name == "" {
		return 1
	}
	return 0
}
