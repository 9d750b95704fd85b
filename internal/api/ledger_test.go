package api

import (
	"net/http"
	"strings"
	"testing"
)

// TestLedgerAPI: GET …/ledger computes the ledger from the space's
// entries, a device that forked shows as forked with the evidence, and GET
// …/ledger/statement answers the member's statement as CSV with a header
// row (400 without a member).
func TestLedgerAPI(t *testing.T) {
	ctx := ctxT(t)
	f := serve(t, false)
	f.mustSpace(ctx, t, "garden")
	me := f.n.Author().String()
	key := "energy/transfer/" + me + "/aut_other/1000-" + me
	if err := f.c.Put(ctx, "garden", []byte(key), []byte(`{"milli":1250,"note":"solar"}`)); err != nil {
		t.Fatal(err)
	}
	seq := forkSelf(t, f, "garden")

	l, err := f.c.Ledger(ctx, "garden")
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Transfers) != 1 || l.Transfers[0].Key != key || l.Transfers[0].Status != TransferWaiting || l.Transfers[0].Milli != 1250 || l.DefaultLimit != DefaultLimit {
		t.Errorf("ledger: %+v", l)
	}
	var mine *LedgerAccount
	for i := range l.Accounts {
		if l.Accounts[i].Member == me {
			mine = &l.Accounts[i]
		}
	}
	if mine == nil || !mine.Admin || len(mine.Forked) != 1 || mine.Forked[0].Device != me || mine.Forked[0].Seq != seq || !strings.Contains(mine.Forked[0].Evidence, "signed two different commits") {
		t.Errorf("this device's account: %+v", mine)
	}

	resp := get(t, f, "/v1/spaces/garden/ledger/statement?person="+me, nil)
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "text/csv; charset=utf-8" {
		t.Errorf("statement: %d, %s", resp.StatusCode, ct)
	}
	body := readBody(t, resp)
	rows := strings.Split(strings.TrimSpace(body), "\n")
	if len(rows) != 2 || rows[0] != "date,counterparty,kwh_in,kwh_out,balance_kwh,note,status" || !strings.HasSuffix(rows[1], ",aut_other,,1.25,0,solar,waiting") {
		t.Errorf("statement:\n%s", body)
	}
	resp = get(t, f, "/v1/spaces/garden/ledger/statement", nil)
	if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "?person=") {
		t.Errorf("a statement of no one: %d %s", resp.StatusCode, body)
	}
}

// TestKWh: amounts in kWh, as the statement and the CLI write them.
func TestKWh(t *testing.T) {
	for milli, want := range map[int64]string{0: "0", 3000: "3", 2500: "2.5", 1: "0.001", -125: "-0.125", 100000000: "100000"} {
		if got := KWh(milli); got != want {
			t.Errorf("KWh(%d) = %q, want %q", milli, got, want)
		}
	}
}
