package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam/internal/api"
)

func newDoctorCmd(g *globalOptions) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Explain how the daemon reaches peers and what each space is missing",
		Long: `Explain how the daemon reaches peers, and what to do when it does not:

  - reachability: public (others can dial this device), private (behind a
    home router: reached through relays and hole punching) or unknown;
  - the DHT joined, the size of its routing table, the bootstrap nodes
    connected and the relays holding a reservation for this device;
  - how this device's router maps ports, as the peers it dialled saw it
    (a router that maps ports per destination, a symmetric NAT, defeats
    hole punching);
  - each connection, direct or relayed: through which relay, how many
    hole punches failed and why, and whether spaces sync through the
    relay (they do once hole punching has failed a few times);
  - for each space: when it was last announced and looked up in the DHT,
    which other nodes hold it, and for each peer syncing it how many
    commits are missing here or there.

It ends with advice, one sentence each. It needs the daemon ('loam daemon').

With --json, print an object {"reachability", "dht", "routing_table",
"bootstrap", "bootstrap_connected", "relays", "hole_punching",
"nat_mapping", "nat_evidence", "connections": [{"peer", "direct", "relay",
"relay_sync", "hole_punch_failures", "hole_punch_error"}], "spaces":
[{"name", "id",
"announced", "looked_up", "found", "peers": [{"peer", "known", "missing",
"extra"}], "error"}], "advice"}.`,
		Example: `  loam doctor
  loam doctor --json | jq .reachability`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, d, err := askDaemon(cmd, g, (*api.Client).Doctor)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if jsonOut {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(d)
			}
			printDoctor(out, d)
			return nil
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the diagnosis as a JSON object")
	return cmd
}

var reachabilityText = map[string]string{
	"public":  "public: peers elsewhere can dial this device directly",
	"private": "private: this device is behind a router; peers elsewhere reach it through a relay, then a hole punch",
	"unknown": "unknown: not found out yet",
}

var natText = map[string]string{
	"endpoint-independent": "keeps ports (hole punching can work)",
	"endpoint-dependent":   "maps ports per destination, a symmetric NAT (hole punching cannot work)",
	"none":                 "no NAT seen",
	"unknown":              "not known (fewer than two peers at different addresses saw this device)",
}

func printDoctor(w io.Writer, d api.Doctor) {
	fmt.Fprintf(w, "Reachability:  %s\n", reachabilityText[d.Reachability])
	if d.DHT == "off" {
		fmt.Fprintln(w, "DHT:           off")
	} else {
		fmt.Fprintf(w, "DHT:           %s, %d server(s) in the routing table\n", d.DHT, d.RoutingTable)
	}
	if len(d.Bootstrap) > 0 {
		fmt.Fprintf(w, "Bootstrap:     %d of %d connected\n", len(d.BootstrapConnected), len(d.Bootstrap))
	}
	fmt.Fprintf(w, "Relays:        %s\n", orNone(d.Relays))
	punch := "ready"
	if !d.HolePunching {
		punch = "not ready (no public address of this device known yet)"
	}
	fmt.Fprintf(w, "Hole punching: %s\n", punch)
	nat := natText[d.NATMapping]
	if d.NATEvidence != "" {
		nat += " (" + d.NATEvidence + ")"
	}
	fmt.Fprintf(w, "Router:        %s\n", nat)
	if len(d.Connections) == 0 {
		fmt.Fprintln(w, "Connections:   none")
	} else {
		fmt.Fprintln(w, "Connections:")
		for _, c := range d.Connections {
			link := "direct"
			if !c.Direct {
				link = "relayed through " + c.Relay
				if c.RelaySync {
					link += ", spaces sync through the relay"
				}
				if c.HolePunchFailures > 0 {
					link += fmt.Sprintf("; %d hole punch(es) failed, last: %s", c.HolePunchFailures, c.HolePunchError)
				}
			}
			fmt.Fprintf(w, "  %s  %s\n", c.Peer, link)
		}
	}
	if len(d.Spaces) > 0 {
		fmt.Fprintln(w, "Spaces:")
	}
	for _, sp := range d.Spaces {
		fmt.Fprintf(w, "  %s (%s)\n", sp.Name, sp.ID)
		if d.DHT != "off" {
			announced := "not yet"
			if sp.Announced != "" {
				announced = sp.Announced
			}
			fmt.Fprintf(w, "    announced in the DHT: %s; other holders found: %s\n", announced, orNone(sp.Found))
		}
		if len(sp.Peers) == 0 {
			fmt.Fprintln(w, "    syncing with: nobody")
		}
		for _, p := range sp.Peers {
			state := "in sync"
			switch {
			case !p.Known:
				state = "waiting for what it holds"
			case p.Missing > 0 || p.Extra > 0:
				state = fmt.Sprintf("%d commit(s) to receive, %d to send", p.Missing, p.Extra)
			}
			fmt.Fprintf(w, "    syncing with %s: %s\n", p.Peer, state)
		}
	}
	if len(d.Advice) == 0 {
		fmt.Fprintln(w, "All is well: nothing to do.")
		return
	}
	fmt.Fprintln(w, "What to do:")
	for _, a := range d.Advice {
		fmt.Fprintf(w, "  - %s\n", a)
	}
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
