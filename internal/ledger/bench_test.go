package ledger

import (
	"fmt"
	"testing"
)

// benchInput is a neighbourhood's ledger: members people, transfers
// transfers among them, each confirmed, and a limit per member.
func benchInput(members, transfers int) Input {
	in := Input{Admins: map[string]bool{"m0": true}, DefaultLimit: 10_000}
	for i := range members {
		in.Limits = append(in.Limits, Limit{Member: fmt.Sprintf("m%d", i), Milli: 20_000, At: Time{Wall: uint64(i), By: "m0"}})
	}
	for i := range transfers {
		from, to := fmt.Sprintf("m%d", i%members), fmt.Sprintf("m%d", (i*7+1)%members)
		if from == to {
			to = fmt.Sprintf("m%d", (i+1)%members)
		}
		t := Transfer{Ref: Ref{From: from, ID: fmt.Sprintf("%013d-d", i)}, To: to, Milli: int64(500 + i%3000), At: Time{Wall: uint64(1000 + 2*i), By: from}}
		in.Transfers = append(in.Transfers, t)
		in.Confirms = append(in.Confirms, Confirm{Transfer: t.Ref, At: Time{Wall: uint64(1001 + 2*i), By: to}, Milli: t.Milli})
	}
	return in
}

// BenchmarkCompute: the ledger of 200 people and 10,000 confirmed
// transfers, computed from its entries.
func BenchmarkCompute(b *testing.B) {
	in := benchInput(200, 10_000)
	b.ReportAllocs()
	for b.Loop() {
		Compute(in)
	}
	b.ReportMetric(float64(len(in.Transfers))*float64(b.N)/b.Elapsed().Seconds(), "transfers/s")
}

// BenchmarkRead: reading the same ledger's 20,200 entries (keys and JSON
// values) into Compute's input.
func BenchmarkRead(b *testing.B) {
	in := benchInput(200, 10_000)
	_, es := entriesOf(in)
	b.ReportAllocs()
	for b.Loop() {
		Read(es, in.Admins, in.DefaultLimit)
	}
	b.ReportMetric(float64(len(es))*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}
