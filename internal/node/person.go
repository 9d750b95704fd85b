package node

import "github.com/loamdb/loam/internal/keys"

// The person's own space (issue 12): a private space per identity that
// holds what the person's devices share — the list of their spaces with
// tickets and keys, and their profile. docs/design.md, "The person's own
// space (#12)".

// PersonSpace returns the person's own space, when this device holds an
// identity and knows it.
func (n *Node) PersonSpace() (keys.SpaceID, bool) {
	n.people.mu.Lock()
	defer n.people.mu.Unlock()
	if n.people.id == nil || n.people.id.Person.IsZero() {
		return keys.SpaceID{}, false
	}
	return n.people.id.Person, true
}
