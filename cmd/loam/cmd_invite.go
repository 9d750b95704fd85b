package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam"
)

func newInviteCmd(g *globalOptions) *cobra.Command {
	var (
		role    string
		expires time.Duration
		uses    uint32
		jsonOut bool
	)
	cmd := &cobra.Command{
		Use:   "invite SPACE",
		Short: "Print a ticket that lets another device join a space",
		Long: `Print a ticket ("loam2…") with which another device joins SPACE: give it to
them, and they run 'loam join TICKET'. The ticket carries the space ID, a
new invite key granted --role in the space, and this daemon's p2p
addresses, so the joining device can reach it: invite needs the daemon
('loam daemon') to run, and the joiner reaches the space through it. This
device must be an admin of the space (its creator is).

--role read lets the joiner read only; write lets it write; admin lets it
also invite and revoke; seed is for a device that only keeps and serves the
space (a home server): it may not write (in a public space it can still
read everything, like any peer that knows the space ID).

--expires limits how long the ticket can be used to join (a device that
joined stays a member); --uses limits how many devices may join with it:
if more join at once, the first by commit time are admitted, the same on
every device. Share tickets privately: whoever holds
one can join. 'loam revoke SPACE TICKET' revokes an invite.`,
		Example: `  loam invite garden-club
  loam invite garden-club --role read --expires 1h
  loam invite garden-club --uses 1 --json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			switch role {
			case "read", "write", "admin", "seed":
			default:
				return usageErrorf(cmd, "--role must be read, write, admin or seed, not %q", role)
			}
			if expires < 0 {
				return usageErrorf(cmd, "--expires must not be negative (0 means no expiry)")
			}
			return withDaemon(cmd, g, "(a ticket carries the daemon's addresses)", func(n *loam.Node) error {
				sp, err := n.Space(ctx, args[0])
				if err != nil {
					return err
				}
				ticket, err := sp.InviteUses(ctx, loam.Role(role), expires, uses)
				if err != nil {
					return err
				}
				made := struct {
					Ticket string `json:"ticket"`
				}{ticket}
				return printResult(cmd, jsonOut, made, func(w io.Writer) error {
					_, err := fmt.Fprintln(w, ticket)
					return err
				})
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&role, "role", "write", "the `ROLE` the ticket grants: read, write, admin or seed")
	durationVar(f, &expires, "expires", 24*time.Hour, "how long the ticket can be used to join (`D`: 1h, 12h, 3d, 1d12h; 0: no limit)")
	f.Uint32Var(&uses, "uses", 0, "how many devices may join with the ticket (`N`; 0: no limit)")
	f.BoolVar(&jsonOut, "json", false, `print {"ticket"} as JSON`)
	return cmd
}
