package node

import (
	"context"
	"fmt"
	"strings"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

// Grant grants role in a held space to subject: a person by identity ID
// (idt_…), whose certified devices all hold it, or a device by author ID
// (aut_…). This device must be an admin of the whole space.
//
// In a private space a person's new device also needs the space's read
// keys, which a grant does not carry: it can write there, sealed, only
// once it holds them (the directory of the person's own space brings
// them: person.go).
func (n *Node) Grant(ctx context.Context, ref, subject string, role commit.Role) error {
	id, err := n.Resolve(ctx, ref)
	if err != nil {
		return err
	}
	info, err := n.st.Space(ctx, id)
	if err != nil {
		return err
	}
	var g commit.Grant
	subject = strings.TrimSpace(subject)
	switch {
	case strings.HasPrefix(subject, keys.IdentityPrefix):
		who, err := keys.ParseIdentityID(subject)
		if err != nil {
			return err
		}
		g = commit.PersonGrant(who, role)
	default:
		who, err := keys.ParseAuthorID(subject)
		if err != nil {
			return fmt.Errorf("node: grant: name a person by identity ID (idt_…) or a device by author ID (aut_…): %w", err)
		}
		g = commit.Grant{Subject: who, Role: role}
	}
	if role < commit.RoleRead || role > commit.RoleSeed {
		return fmt.Errorf("node: grant: %s is not a role: use read, write, admin or seed", role)
	}
	mine, err := n.st.Role(ctx, id, n.dev.Author())
	if err != nil {
		return err
	}
	if mine != commit.RoleAdmin {
		return fmt.Errorf("%w: granting in %s needs the admin role; this device has %s (ask an admin)", ErrNotAdmin, info.Name, roleName(mine))
	}
	sp, err := n.openSpace(ctx, id)
	if err != nil {
		return err
	}
	if _, err := sp.Commit(ctx, []commit.Op{commit.GrantOp(g)}); err != nil {
		return fmt.Errorf("node: grant: %w", err)
	}
	return nil
}
