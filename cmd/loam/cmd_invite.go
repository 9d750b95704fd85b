package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

func newInviteCmd(g *globalOptions) *cobra.Command {
	var (
		role    string
		expires time.Duration
		jsonOut bool
	)
	cmd := &cobra.Command{
		Use:   "invite SPACE",
		Short: "Print a ticket that lets another device join a space",
		Long: `Print a ticket ("loam1…") with which another device joins SPACE: give it to
them, and they run 'loam join TICKET'. The ticket carries the space ID, a
new invite key granted --role in the space, and this daemon's p2p
addresses, so the joining device can reach it: invite needs the daemon
('loam daemon') to run, and the joiner reaches the space through it. This
device must be an admin of the space (its creator is).

Until access control lands, roles other than write are recorded but not
enforced beyond the grant check, and expiry is not enforced (--expires is
recorded in the grant only). Share tickets privately: whoever holds one can
join.`,
		Example: `  loam invite garden-club
  loam invite garden-club --role read --expires 1h`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			switch role {
			case "read", "write", "admin":
			default:
				return usageErrorf(cmd, "--role must be read, write or admin, not %q", role)
			}
			if expires < 0 {
				return usageErrorf(cmd, "--expires must not be negative (0 means no expiry)")
			}
			c, err := needDaemon(ctx, g, "(a ticket carries the daemon's addresses)")
			if err != nil {
				return err
			}
			ticket, err := c.Invite(ctx, args[0], role, expires)
			if err != nil {
				return err
			}
			if jsonOut {
				return writeJSON(cmd.OutOrStdout(), struct {
					Ticket string `json:"ticket"`
				}{ticket})
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), ticket)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&role, "role", "write", "the `ROLE` the ticket grants: read, write or admin")
	f.DurationVar(&expires, "expires", 24*time.Hour, "how long the ticket is valid (`D`: 1h, 24h, 168h; 0: no expiry; not enforced yet)")
	f.BoolVar(&jsonOut, "json", false, `print {"ticket"} as JSON`)
	return cmd
}
