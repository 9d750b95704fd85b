package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam/internal/keys"
)

func newSeedCmd(g *globalOptions) *cobra.Command {
	var (
		timeout time.Duration
		jsonOut bool
	)
	cmd := &cobra.Command{
		Use:   "seed TICKET",
		Short: "Keep and serve a space with a seed ticket, without reading it",
		Long: `Keep and serve the space of TICKET, a ticket printed by
'loam invite SPACE --role seed': join it as a seeder, which stores, verifies
(signatures, chains and grants) and serves every commit of the space to its
members, and writes nothing. For a private space a seeder holds no read key:
it keeps only ciphertext and can still restore a member's new device on its
own. Print the space's local name and ID.

Run it on a home server with 'loam daemon' running, so the space stays
served; without a daemon, seed receives what the peers have and stops, as
'loam join' does. A ticket carrying read keys (a member's invite to a
private space) is refused: a seeder must not hold them.

A seeder on a machine with a public address can also relay for members
behind home routers: run its daemon with 'loam daemon --relay-service'.
Tickets name the seeders their inviter is connected to, so joiners use
them as relays too.`,
		Example: `  loam seed loam2…
  loam seed "$(cat seed-ticket.txt)" --json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if timeout <= 0 {
				return usageErrorf(cmd, "--timeout must be positive, not %s", timeout)
			}
			ticket := strings.TrimSpace(args[0])
			t, err := keys.ParseTicket(ticket)
			if err != nil {
				return err
			}
			if len(t.ReadKeys) > 0 {
				return fmt.Errorf("seed: this ticket carries the read keys of private space %s (it is a member's invite): ask an admin for 'loam invite %s --role seed', or use 'loam join' to become a member", t.Name, t.Name)
			}
			return joinAndReport(cmd, g, ticket, timeout, jsonOut, "seeding %s (%s)", "keep serving %s")
		},
	}
	durationVar(cmd.Flags(), &timeout, "timeout", 2*time.Minute, "give up after `D` (e.g. 30s, 5m, 1h)")
	cmd.Flags().BoolVar(&jsonOut, "json", false, `print {"id", "name"} as JSON`)
	return cmd
}
