package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam/internal/api"
)

func newPeersCmd(g *globalOptions) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "peers",
		Short: "List the peers the daemon knows",
		Long: `List the peers the daemon knows, connected or recently seen: PEER (the
libp2p peer ID), LINK (direct, relayed, or disconnected: a relayed
connection carries no data until a hole punch makes it direct, which the
daemon keeps trying; when hole punching keeps failing, spaces sync through
the relay, end-to-end encrypted; 'loam doctor' explains), SPACES (the
spaces synced with it, by local name), IN and OUT (bytes received and sent
since the daemon started) and LAST SEEN. It needs the daemon
('loam daemon').

With --json, print an array of {"peer", "author", "addrs", "direct",
"connected", "relay", "relay_sync", "spaces" (IDs), "bytes_in",
"bytes_out", "last_seen"}.`,
		Example: `  loam peers
  loam peers --json | jq '.[] | select(.direct | not)'`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, peers, err := askDaemon(cmd, g, (*api.Client).Peers)
			if err != nil {
				return err
			}
			asIs := func(p api.Peer) any { return p }
			return printList(cmd, jsonOut, peers, asIs, "no peers yet: share a space with 'loam invite', or join one with 'loam join'", func(out io.Writer) error {
				names, err := spaceNamesOf(cmd.Context(), c)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "PEER\tLINK\tSPACES\tIN\tOUT\tLAST SEEN")
				now := time.Now()
				for _, p := range peers {
					link := "disconnected"
					switch {
					case p.Connected && p.Direct:
						link = "direct"
					case p.Connected && p.RelaySync:
						link = "relayed, syncing through it"
					case p.Connected:
						link = "relayed"
					}
					var spaces []string
					for _, id := range p.Spaces {
						spaces = append(spaces, names.of(id))
					}
					seen := "-"
					if t, err := api.ParseTime(p.LastSeen); err == nil && !t.IsZero() {
						seen = ago(now, t)
					}
					if p.Connected {
						seen = "now"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.Peer, link, orDash(strings.Join(spaces, ",")),
						byteSize(p.BytesIn), byteSize(p.BytesOut), seen)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the peers as a JSON array")
	return cmd
}
