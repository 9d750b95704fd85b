package reconcile

import "github.com/loamdb/loam/internal/store"

// Observe passes a store event on to the session: Notify for the space's
// new commits, Announce when the space's authorization was decided again,
// and Forward for the evidence of each fork found. A node calls it for
// every session it runs, from its store's Notify hook
// (store.Options.Notify). Like those three, it never blocks.
func (s *Session) Observe(ev store.Event) {
	s.Notify(ev.Space)
	if ev.Redecided {
		s.Announce(ev.Space)
	}
	for _, f := range ev.Forks {
		s.Forward(ev.Space, [][]byte{f.A.Bytes(), f.B.Bytes()})
	}
}
