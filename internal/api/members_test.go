package api

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/node"
	"github.com/loamdb/loam/internal/space"
)

// TestMembersAndRevoke: members through the API, a one-use invite, revoking
// an invite by its ticket and a member by author ID, and the errors of a
// revoke by a non-admin, of an unknown member and of a missing target.
func TestMembersAndRevoke(t *testing.T) {
	ctx := ctxT(t)
	a, b := serve(t, true), serve(t, true)
	a.mustSpace(ctx, t, "garden")
	ticket, err := a.c.InviteUses(ctx, "garden", "write", time.Hour, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.c.Join(ctx, ticket); err != nil {
		t.Fatal(err)
	}
	// b's join reaches a by sync.
	var ms []Member
	for deadline := time.Now().Add(20 * time.Second); ; {
		if ms, err = a.c.Members(ctx, "garden"); err != nil {
			t.Fatal(err)
		}
		if len(ms) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b's join never reached a: %+v", ms)
		}
		time.Sleep(10 * time.Millisecond) // re-check interval, not synchronization
	}
	var inviteKey string
	roles := map[string]string{}
	for _, m := range ms {
		roles[m.Author] = m.Role
		if m.Invite {
			inviteKey = m.Author
			if len(m.Joined) != 1 || m.Joined[0] != b.n.Author().String() || m.Grants[0].Uses != 1 || m.Grants[0].Expires == nil {
				t.Errorf("invite member %+v", m)
			}
		}
	}
	if roles[a.n.Author().String()] != "admin" || roles[b.n.Author().String()] != "write" || inviteKey == "" {
		t.Fatalf("members %+v", ms)
	}

	if _, err := b.c.Revoke(ctx, "garden", a.n.Author().String()); !errors.Is(err, space.ErrReadOnly) || err.(*Error).Status != 403 || !strings.Contains(err.Error(), "needs admin") {
		t.Errorf("revoke by a writer: %v", err)
	}
	if _, err := a.c.Revoke(ctx, "garden", "aut_"+strings.Repeat("b", 51)+"a"); !errors.Is(err, node.ErrNotMember) || err.(*Error).Status != 404 {
		t.Errorf("revoke of a stranger: %v", err)
	}
	resp := post(t, a, "/v1/spaces/garden/revoke", `{}`, nil)
	if body := readBody(t, resp); resp.StatusCode != 400 {
		t.Errorf("revoke without a target: %s %s", resp.Status, body)
	}
	rv, err := a.c.Revoke(ctx, "garden", ticket)
	if err != nil || !rv.Invite || rv.Author != inviteKey || rv.LastSeq != 1 {
		t.Fatalf("revoke the invite: %+v %v", rv, err)
	}
	rv, err = a.c.Revoke(ctx, "garden", b.n.Author().String())
	if err != nil || rv.Invite || rv.LastSeq == 0 {
		t.Fatalf("revoke b: %+v %v", rv, err)
	}
	ms, _ = a.c.Members(ctx, "garden")
	for _, m := range ms {
		if m.Author == b.n.Author().String() && (m.Revoked == nil || m.Revoked.By != a.n.Author().String() || m.Role != "") {
			t.Errorf("b after revoke: %+v", m)
		}
	}
}
