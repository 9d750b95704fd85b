package store

import "testing"

// TestTailPushAllocs: once an author's tail is full, pushing a commit's
// gains slides it without allocating each time (it allocated once per
// push: the slid tail had no room left at its end).
func TestTailPushAllocs(t *testing.T) {
	var k knowledge
	gs := []gain{{num: 1, seq: 1}}
	for range 3 * tailLen {
		k.push(gs)
		k.seq++
	}
	allocs := testing.AllocsPerRun(10*tailLen, func() {
		k.push(gs)
		k.seq++
	})
	if allocs > 0.1 {
		t.Fatalf("push allocates %.2f times a commit once the tail is full, want about 1/%d", allocs, tailLen)
	}
	if len(k.tail) != tailLen {
		t.Fatalf("tail holds %d commits, want %d", len(k.tail), tailLen)
	}
	if g, ok := k.tailGains(k.seq); !ok || len(g) != 1 {
		t.Fatalf("the latest commit's gains are not in the tail")
	}
}
