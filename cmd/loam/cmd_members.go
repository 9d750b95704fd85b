package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam"
)

func newMembersCmd(g *globalOptions) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "members SPACE",
		Short: "List who holds which role in a space",
		Long: `List the members of SPACE as this device knows them: every person (an
identity, idt_…, shown by their profile name ('loam id profile'), with
their certified devices under them, each by the name its certificate gives
it), and every other device and invite key holding a
grant that counts, with its role in force now, the key prefix
it is restricted to, who granted it and when, when it expires, when and
by whom it was revoked, and the seq at which it forked (signed two
different commits with one seq: its commits from there on do not count).
An invite key shows how many devices joined with it (uses/limit). Roles:
read < write < admin; seed stores and serves only.

Members decides from the commits held here: a grant or revocation made on a
device this one has not synced with yet is not shown.`,
		Example: `  loam members garden-club
  loam members spc_… --json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ms, err := askSpace(cmd, g, args[0], (*loam.Space).Members)
			if err != nil {
				return err
			}
			return printResult(cmd, jsonOut, ms, func(w io.Writer) error {
				return writeMembers(w, ms)
			})
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, `print [{"author", "invite", "role", "grants", "joined", "revoked", "forked_at", "identity", "name", "since", "devices", "avatar", "avatar_key", "person"}] as JSON; a person's name is their profile's, a device's its certificate's`)
	return cmd
}

// writeMembers writes the table of 'loam members' to out.
func writeMembers(out io.Writer, ms []loam.Member) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "MEMBER\tROLE\tPREFIX\tGRANTED BY\tSINCE\tEXPIRES\tREVOKED\tFORKED")
	for _, m := range ms {
		writeMember(w, m, "")
		for i, d := range m.Devices {
			branch := "├ "
			if i == len(m.Devices)-1 {
				branch = "└ "
			}
			writeMember(w, d, branch)
		}
	}
	return w.Flush()
}

// writeMember writes one row: a device or invite key, a person (its
// devices follow, indented), or, indented, one of a person's devices.
func writeMember(w *tabwriter.Writer, m loam.Member, indent string) {
	who := shortID(m.Author)
	switch {
	case len(m.Devices) > 0 || strings.HasPrefix(m.Author, "idt_"):
		who = fmt.Sprintf("%s (person, %d devices)", who, len(m.Devices))
		if m.Name != "" { // the person's profile name
			who = m.Name + " " + who
		}
	case m.Name != "":
		who = fmt.Sprintf("%s%s %q", indent, who, m.Name)
	}
	if m.Invite {
		limit := "∞"
		for _, g := range m.Grants {
			if g.Uses != 0 {
				limit = fmt.Sprint(g.Uses)
			}
		}
		who = fmt.Sprintf("%s (invite %d/%s)", who, len(m.Joined), limit)
	}
	role := string(m.Role)
	if role == "" {
		role = "-"
	}
	prefix, by, since, expires := "-", "-", "-", "never"
	if len(m.Grants) > 0 {
		g := m.Grants[len(m.Grants)-1]
		for _, gg := range m.Grants { // the grant of the role in force, if any
			if gg.Role == m.Role {
				g = gg
			}
		}
		if g.Prefix != "" {
			prefix = fmt.Sprintf("%q", g.Prefix)
		}
		by = shortID(g.GrantedBy)
		if g.Via != "" {
			by = "invite " + shortID(g.Via)
		}
		since = g.Since.Local().Format(time.DateTime)
		if g.Expires != nil {
			expires = g.Expires.Local().Format(time.DateTime)
		}
	}
	if len(m.Grants) == 0 && m.Since != nil { // a device that holds its person's grants only
		since = m.Since.Local().Format(time.DateTime)
	}
	revoked := "-"
	if m.Revoked != nil {
		revoked = fmt.Sprintf("%s by %s after seq %d", m.Revoked.At.Local().Format(time.DateTime), shortID(m.Revoked.By), m.Revoked.LastSeq)
	}
	forked := "-"
	if m.ForkedAt != 0 {
		forked = fmt.Sprintf("at seq %d", m.ForkedAt)
	}
	fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", who, role, prefix, by, since, expires, revoked, forked)
}

// shortID is the human form of an ID: its prefix and 8 digits.
func shortID(id string) string {
	if i := strings.IndexByte(id, '_'); i >= 0 && len(id) > i+9 {
		return id[:i+9]
	}
	return id
}
