package main

import (
	"strings"
	"testing"

	"github.com/loamdb/loam"
)

// TestEnergyCmd: 'loam energy' shows a device's transfer waiting for
// confirmation, --json the same ledger, and 'loam energy statement --csv'
// the statement with its header row.
func TestEnergyCmd(t *testing.T) {
	h := gardenHome(t)
	var ms []loam.Member
	h.okJSON(&ms, "members", "garden", "--json")
	me := ms[0].Author
	h.ok("", "put", "garden", "energy/transfer/"+me+"/aut_other/1000-"+me, `{"milli":2500,"note":"=SUM(A1)"}`)
	out := h.ok("", "energy", "garden")
	if !strings.Contains(out, "2.5") || !strings.Contains(out, "waiting for confirmation") || !strings.Contains(out, "BALANCE (kWh)") {
		t.Errorf("loam energy:\n%s", out)
	}
	var l loam.Ledger
	h.okJSON(&l, "energy", "garden", "--json")
	if len(l.Transfers) != 1 || l.Transfers[0].Milli != 2500 || l.Transfers[0].Status != loam.TransferWaiting || len(l.Accounts) != 2 {
		t.Errorf("loam energy --json: %+v", l)
	}
	csv := h.ok("", "energy", "statement", "garden", "--csv")
	want := "date,counterparty,kwh_in,kwh_out,balance_kwh,note,status\n"
	if !strings.HasPrefix(csv, want) || !strings.HasSuffix(csv, ",aut_other,,2.5,0,'=SUM(A1),waiting\n") {
		t.Errorf("loam energy statement --csv:\n%s", csv)
	}
	if r := h.run("", "energy", "statement", "garden", "Nobody"); r.code == 0 || !strings.Contains(r.stderr, `no member of this space is called "Nobody"`) {
		t.Errorf("a statement of nobody: exit %d, %s", r.code, r.stderr)
	}
}
