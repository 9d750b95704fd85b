package node

import (
	"strings"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/p2p"
)

// TestTicketNamesSeeders: a ticket carries the addresses of the space's
// connected seeders besides the inviter's, so its holder joins through a
// seeder while the inviter is offline, with the ticket as it was made.
func TestTicketNamesSeeders(t *testing.T) {
	ctx := ctxT(t)
	a, s, c := openNode(t, t.TempDir()), openNode(t, t.TempDir()), openNode(t, t.TempDir())
	sp := newSpace(t, a, "club")
	id := sp.ID()
	put(t, a, id, "tools/drill", "cordless")
	joinAs(t, a, s, "club", commit.RoleSeed, 0)
	waitFor(t, 20*time.Second, "the seeder's grant to reach the inviter", func() bool { return sameHeads([]*Node{a, s}, id) })

	tk := inviteFor(t, a, "club", commit.RoleWrite, 0)
	seederID := "/p2p/" + p2p.PeerIDString(s.Author())
	n := 0
	for _, addr := range tk.Addrs {
		if strings.HasSuffix(addr, seederID) {
			n++
		}
	}
	if n == 0 {
		t.Fatalf("the ticket's addresses %v name no address of the seeder %s", tk.Addrs, seederID)
	}
	// The seeder must hold the invite's grant before the inviter goes.
	waitFor(t, 20*time.Second, "the invite to reach the seeder", func() bool { return sameHeads([]*Node{a, s}, id) })
	a.Close()
	if _, err := c.Join(ctx, tk); err != nil {
		t.Fatalf("join through the seeder with the inviter offline: %v", err)
	}
	waitFor(t, 20*time.Second, "the new member to read the space", func() bool {
		_, err := c.st.Get(ctx, id, []byte("tools/drill"))
		return err == nil
	})
}
