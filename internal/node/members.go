package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
)

// Errors of membership commands.
var (
	// ErrNotMember: the author named holds no grant in the space.
	ErrNotMember = errors.New("not a member of the space")
	// ErrNoSecret: this home does not hold the space's secret key.
	ErrNoSecret = errors.New("space secret not held here")
	// ErrInviteVoid: the invite has expired or was revoked.
	ErrInviteVoid = errors.New("invite no longer valid")
)

// Members lists the members of a held space (see space.Members).
func (n *Node) Members(ctx context.Context, ref string) ([]space.Member, error) {
	id, err := n.Resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	ms, _, err := n.roster.get(ctx, n.st, id)
	return ms, err
}

// Roster lists the members and the people of a held space (see
// space.Roster).
func (n *Node) Roster(ctx context.Context, ref string) ([]space.Member, []space.Person, error) {
	id, err := n.Resolve(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	return n.roster.get(ctx, n.st, id)
}

// Revocation is what Revoke did.
type Revocation struct {
	Author  keys.AuthorID
	Invite  bool   // an invite key: joins after LastSeq are refused
	LastSeq uint64 // the cut: the author's commits (an invite's joins) after it do not count
	// Epoch is the key epoch a private space's revocation started (0 in a
	// public space): later writes are sealed under a key the revoked
	// author does not get.
	Epoch uint64
	// Person is set when a person was revoked (target idt_…): Author is
	// then zero, and Devices holds the cuts of the person's devices known
	// here (every other device of the person is cut at 0).
	Person  keys.IdentityID
	Devices []commit.Revoke
}

// Revoke revokes a member of a held space: target is its author ID
// (aut_…), a person's identity ID (idt_…: every device of the person,
// revokePerson), or a ticket (loam2…) to revoke that invite. The cut is what
// this node holds of the target: its latest commit here, or for an invite
// the joiners admitted so far. This device must be an admin of the whole
// space.
func (n *Node) Revoke(ctx context.Context, ref, target string) (Revocation, error) {
	id, err := n.Resolve(ctx, ref)
	if err != nil {
		return Revocation{}, err
	}
	info, err := n.st.Space(ctx, id)
	if err != nil {
		return Revocation{}, err
	}
	var who keys.AuthorID
	target = strings.TrimSpace(target)
	if strings.HasPrefix(target, keys.IdentityPrefix) {
		return n.revokePerson(ctx, id, info.Name, target)
	}
	if strings.HasPrefix(target, keys.TicketPrefix) {
		t, err := keys.ParseTicket(target)
		if err != nil {
			return Revocation{}, err
		}
		if t.Space != id || t.Invite.IsZero() {
			return Revocation{}, fmt.Errorf("node: revoke: that ticket is not an invite to %s", info.Name)
		}
		who = t.Invite.Author()
	} else if who, err = keys.ParseAuthorID(target); err != nil {
		return Revocation{}, fmt.Errorf("node: revoke: name a member by its author ID (aut_…), a person by identity ID (idt_…) or an invite by its ticket (loam2…): %w", err)
	}
	if who == keys.AuthorID(id) {
		return Revocation{}, fmt.Errorf("node: revoke: the space key cannot be revoked; keep its secret offline instead (loam space export-secret)")
	}
	m, err := memberOf(ctx, n.st, id, who)
	if err != nil {
		return Revocation{}, err
	}
	if !m.found {
		return Revocation{}, fmt.Errorf("%w: %s holds no grant in %s (see loam members %s)", ErrNotMember, who, info.Name, info.Name)
	}
	r := Revocation{Author: who, Invite: m.invite}
	if m.invite {
		r.LastSeq = uint64(m.joined)
	} else {
		heads, err := n.st.Heads(ctx, id)
		if err != nil {
			return Revocation{}, err
		}
		for _, h := range heads {
			if h.Author == who {
				r.LastSeq = h.Seq
			}
		}
	}
	sp, err := n.openSpace(ctx, id)
	if err != nil {
		return Revocation{}, err
	}
	var ms []space.Member // the members a private space's new read key goes to
	if sp.Private() {
		if ms, _, err = n.roster.get(ctx, n.st, id); err != nil {
			return Revocation{}, err
		}
	}
	ops := []commit.Op{commit.RevokeOp(commit.Revoke{Author: who, LastSeq: r.LastSeq})}
	if r.Epoch, err = n.commitRevoke(ctx, sp, ms, ops, who); err != nil {
		return Revocation{}, err
	}
	return r, nil
}

// member is what Revoke needs to know of an author (what space.Roster
// says of it): whether it is a member at all, an invite key, and how many
// joiners that invite admitted.
type member struct {
	found, invite bool
	joined        int
}

// memberOf finds who in the authorization the store holds of sp (the
// grants of the commits that count, and the cuts: store.Access, a few
// rows a member), as space.Roster lists it, without reading and deciding
// every commit of the space (#16): a member holds a grant or a
// certificate that counts, or is an invite key a counting join went
// through, or was cut. An invite key is one granted with a number of uses
// or one a device joined through; its joiners are the authors of the joins
// through it that count.
func memberOf(ctx context.Context, st *store.Store, sp keys.SpaceID, who keys.AuthorID) (member, error) {
	a, err := st.Access(ctx, sp)
	if err != nil {
		return member{}, err
	}
	var m member
	_, m.found = a.Cuts[who]
	for _, g := range a.Grants(who) {
		m.found, m.invite = true, m.invite || g.Uses != 0
	}
	for _, c := range a.Certs(who) {
		m.found = m.found || c.IsCert()
	}
	joiners := map[keys.AuthorID]bool{}
	for _, s := range a.Subjects() {
		for _, g := range a.Grants(s) {
			if g.Invite == who {
				m.found, m.invite = true, true
				joiners[g.Granter] = true
			}
		}
	}
	for _, id := range a.Identities() {
		for _, g := range a.People(id) {
			if g.Invite == who {
				m.found = true
				joiners[g.Granter] = true
			}
		}
	}
	m.joined = len(joiners)
	return m, nil
}

// commitRevoke commits the revocation ops in sp, in a private space with
// the rotation of its read key to the members ms but the revoked devices,
// and returns the epoch the rotation starts (0 in a public space).
func (n *Node) commitRevoke(ctx context.Context, sp *space.Space, ms []space.Member, ops []commit.Op, revoked ...keys.AuthorID) (uint64, error) {
	var epoch uint64
	if sp.Private() {
		rot, err := n.rotation(sp.ID(), ms, revoked...)
		if err != nil {
			return 0, fmt.Errorf("node: revoke: %w", err)
		}
		ops = append(ops, rot.Op)
		epoch = rot.Epoch
	}
	if _, err := sp.Commit(ctx, ops); err != nil {
		return 0, fmt.Errorf("node: revoke: %w", err)
	}
	return epoch, nil
}

func secretPath(home string, id keys.SpaceID) string {
	return filepath.Join(home, "spaces", id.String()+".key")
}

// ExportSecret returns the secret key of a held space (spcsec_…), and with
// remove deletes this home's copy, so the owner can keep it offline: daily
// work never needs it; it signs only the genesis.
func (n *Node) ExportSecret(ctx context.Context, ref string, remove bool) (string, error) {
	id, err := n.Resolve(ctx, ref)
	if err != nil {
		return "", err
	}
	return ExportSecret(n.home, id, remove)
}

// ImportSecret stores the secret key of a held space in this home, after
// checking it is that space's key.
func (n *Node) ImportSecret(ctx context.Context, ref, secret string) error {
	id, err := n.Resolve(ctx, ref)
	if err != nil {
		return err
	}
	return ImportSecret(n.home, id, secret)
}

// ExportSecret is Node.ExportSecret on the files of a home, for use while
// a daemon holds its store.
func ExportSecret(home string, id keys.SpaceID, remove bool) (string, error) {
	b, err := os.ReadFile(secretPath(home, id))
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("%w: %s (it was created elsewhere, or exported with --remove; import it with loam space import-secret)", ErrNoSecret, id)
	}
	if err != nil {
		return "", err
	}
	sk, err := keys.ParseSpaceKey(string(b))
	if err != nil || sk.Space() != id {
		return "", fmt.Errorf("node: the secret file of %s is damaged: %v", id, err)
	}
	if remove {
		if err := os.Remove(secretPath(home, id)); err != nil {
			return "", err
		}
	}
	return sk.String(), nil
}

// ImportSecret is Node.ImportSecret on the files of a home.
func ImportSecret(home string, id keys.SpaceID, secret string) error {
	sk, err := keys.ParseSpaceKey(secret)
	if err != nil {
		return err
	}
	if sk.Space() != id {
		return fmt.Errorf("node: import secret: that is the key of %s, not of %s", sk.Space(), id)
	}
	p := secretPath(home, id)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	return os.WriteFile(p, []byte(sk.String()+"\n"), 0o600)
}
