package api

import (
	"errors"
	"testing"
	"time"
)

// TestOldest: the key of the earliest time, whatever the map's order.
func TestOldest(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := map[[32]byte]time.Time{}
	for i := range 50 {
		m[[32]byte{byte(i)}] = t0.Add(time.Duration((i*7)%50) * time.Minute) // i = 0 is the earliest
	}
	for range 5 { // map order changes from one range to the next
		if got := oldest(m, func(at time.Time) time.Time { return at }); got != ([32]byte{0}) {
			t.Fatalf("oldest: %x, want the key of %v", got[:1], t0)
		}
	}
	if got := oldest(map[[32]byte]time.Time{}, func(at time.Time) time.Time { return at }); got != ([32]byte{}) {
		t.Errorf("oldest of nothing: %x", got)
	}
}

// TestPairingEvictsOldest: a pairing full of unused codes drops the one
// that expires first to make room, and says it was spent.
func TestPairingEvictsOldest(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := &newPhoneState().pair
	p.now = func() time.Time { now = now.Add(time.Second); return now }
	var codes []string
	for range maxPairCodes + 1 {
		c, _ := p.add("phone")
		codes = append(codes, c)
	}
	if len(p.codes) != maxPairCodes {
		t.Fatalf("%d codes held, want %d", len(p.codes), maxPairCodes)
	}
	if _, _, err := p.take(codes[0]); !errors.Is(err, ErrBadPairCode) {
		t.Errorf("the first code, evicted: %v, want ErrBadPairCode", err)
	}
	if _, ok := p.spent[hashOf(codes[0])]; !ok {
		t.Error("the evicted code is not remembered as spent")
	}
	for _, c := range codes[1:] {
		if _, _, err := p.take(c); err != nil {
			t.Errorf("a later code: %v", err)
		}
	}
}
