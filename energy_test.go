package loam_test

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/loamdb/loam"
	"github.com/loamdb/loam/internal/testkit"
)

// TestLedger: Bob (embedded, an admin) and Ana (her laptop, through a
// daemon), each a person. Ana gives Bob 3 kWh and Bob confirms; Bob gives
// Ana 1.5 kWh she has not confirmed; Bob forges a transfer under Ana's
// name and a confirmation under hers, and Ana sets Bob's limit though she
// is no admin. Both compute the same ledger: Ana -3, Bob +3 (the sum is
// zero), the forged entries ignored, Bob's limit for Ana in force, and the
// same statement.
func TestLedger(t *testing.T) {
	ctx := ctxT(t)
	bobN, club := bobsClub(t, ctx)
	bob, _, err := bobN.CreateIdentity(ctx, "Bob", loam.IdentityOptions{})
	if err != nil {
		t.Fatal(err)
	}
	laptop := connect(t, startDaemon(t).home)
	lsp := must(laptop.Join(ctx, must(club.Invite(ctx, loam.Write, time.Hour))(t)))(t)
	ana, _, err := laptop.CreateIdentity(ctx, "Ana", loam.IdentityOptions{Device: "laptop"})
	if err != nil {
		t.Fatal(err)
	}
	if err := club.Grant(ctx, ana.ID, loam.Write); err != nil {
		t.Fatal(err)
	}
	if _, err := laptop.SetProfile(ctx, loam.Profile{Name: "Ana"}); err != nil {
		t.Fatal(err)
	}
	if _, err := bobN.SetProfile(ctx, loam.Profile{Name: "Bob"}); err != nil {
		t.Fatal(err)
	}

	put := func(sp *loam.Space, key, value string) {
		t.Helper()
		var err error
		if !testkit.Poll(30*time.Second, 10*time.Millisecond, func() bool {
			err = sp.Put(ctx, []byte(key), []byte(value))
			return err == nil
		}) {
			t.Fatalf("put %s: %v", key, err)
		}
	}
	anaID := fmt.Sprintf("1000-%s", laptop.Author())
	put(lsp, "energy/transfer/"+ana.ID+"/"+bob.ID+"/"+anaID, `{"milli":3000,"note":"solar, Sunday"}`)
	put(lsp, "energy/limit/"+bob.ID, `{"milli":1}`) // not an admin: ignored
	put(club, "energy/limit/"+ana.ID, `{"milli":5000}`)
	put(club, "energy/post/1500-"+bobN.Author(), `{"kind":"offer","kwh":2.5}`) // a post: not the ledger's, not ignored either
	bobsID := fmt.Sprintf("2000-%s", bobN.Author())
	put(club, "energy/transfer/"+bob.ID+"/"+ana.ID+"/"+bobsID, `{"milli":1500}`)
	put(club, "energy/transfer/"+ana.ID+"/"+bob.ID+"/3000-"+bobN.Author(), `{"milli":9000}`) // forged: under Ana's name
	put(club, "energy/confirm/"+bob.ID+"/"+ana.ID+"/"+bobsID, `{}`)                          // forged: Ana's confirmation
	waitLedger := func(sp *loam.Space, done func(loam.Ledger) bool) loam.Ledger {
		t.Helper()
		var (
			l   loam.Ledger
			err error
		)
		if !testkit.Poll(60*time.Second, 20*time.Millisecond, func() bool {
			l, err = sp.Ledger(ctx)
			return err == nil && done(l)
		}) {
			t.Fatalf("ledger: %+v, %v", l, err)
		}
		return l
	}
	waitLedger(club, func(l loam.Ledger) bool { return len(l.Transfers) == 2 })
	put(club, "energy/confirm/"+ana.ID+"/"+bob.ID+"/"+anaID, `{"note":"thanks"}`)

	settled := func(l loam.Ledger) bool {
		return len(l.Transfers) == 2 && l.Transfers[1].Status == loam.TransferConfirmed && len(l.Accounts) == 2 && l.Accounts[0].Name == "Ana" && l.Accounts[1].Name == "Bob"
	}
	embedded := waitLedger(club, settled)
	daemon := waitLedger(lsp, func(l loam.Ledger) bool { return settled(l) && reflect.DeepEqual(l, embedded) })
	_ = daemon

	var sum int64
	for _, a := range embedded.Accounts {
		sum += a.Balance
	}
	if sum != 0 {
		t.Errorf("balances sum to %d: %+v", sum, embedded.Accounts)
	}
	a, b := embedded.Accounts[0], embedded.Accounts[1]
	if a.Member != ana.ID || a.Balance != -3000 || a.Limit != 5000 || a.Admin || b.Member != bob.ID || b.Balance != 3000 || b.Limit != loam.DefaultLedgerLimit || !b.Admin {
		t.Errorf("accounts: %+v", embedded.Accounts)
	}
	if embedded.Ignored != 3 {
		t.Errorf("ignored %d entries, want 3 (a transfer and a confirmation under another's name, a limit by a non-admin)", embedded.Ignored)
	}
	bt := embedded.Transfers[0]
	if bt.From != bob.ID || bt.Status != loam.TransferWaiting || bt.ToName != "Ana" {
		t.Errorf("Bob's transfer: %+v", bt)
	}

	// The statement, the same both ways.
	var csv [2]bytes.Buffer
	for i, sp := range []*loam.Space{club, lsp} {
		lines, err := sp.Statement(ctx, ana.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := loam.WriteStatementCSV(&csv[i], lines); err != nil {
			t.Fatal(err)
		}
	}
	if csv[0].String() != csv[1].String() {
		t.Errorf("statements differ:\n%s\n%s", csv[0].String(), csv[1].String())
	}
	rows := strings.Split(strings.TrimSpace(csv[0].String()), "\n")
	if len(rows) != 3 || rows[0] != "date,counterparty,kwh_in,kwh_out,balance_kwh,note,status" ||
		!strings.HasSuffix(rows[1], ",Bob,,3,-3,\"solar, Sunday\",confirmed") && !strings.HasSuffix(rows[2], ",Bob,,3,-3,\"solar, Sunday\",confirmed") {
		t.Errorf("Ana's statement:\n%s", csv[0].String())
	}
}
