package api

import (
	"strings"
	"testing"
)

// TestAdvise: each situation 'loam doctor' can find gets a sentence that
// says what to do, and a healthy node gets none.
func TestAdvise(t *testing.T) {
	healthy := Doctor{
		Reachability: "private", DHT: "private", RoutingTable: 1,
		Bootstrap: []string{"B"}, BootstrapConnected: []string{"B"}, Relays: []string{"B"}, HolePunching: true,
		Connections: []DoctorConn{{Peer: "P", Direct: true}},
		Spaces:      []DoctorSpace{{Name: "garden", LookedUp: "t", Found: []string{"P"}, Peers: []DoctorGap{{Peer: "P", Known: true}}}},
	}
	for _, tc := range []struct {
		name   string
		change func(*Doctor)
		want   string // in the advice; "" for no advice
	}{
		{"healthy", func(*Doctor) {}, ""},
		{"dht off", func(d *Doctor) { d.DHT = "off" }, "--dht amino"},
		{"bootstrap down", func(d *Doctor) { d.BootstrapConnected = nil; d.RoutingTable = 0 }, "No bootstrap node is connected"},
		{"no relay", func(d *Doctor) { d.Relays = nil }, "holds no relay reservation"},
		{"no public address", func(d *Doctor) { d.HolePunching = false }, "cannot hole punch"},
		{"unknown", func(d *Doctor) { d.Reachability = "unknown" }, "not known yet"},
		{"relayed", func(d *Doctor) { d.Connections[0].Direct = false }, "reached only through a relay and no hole punch was tried yet"},
		{"relayed, punch failed", func(d *Doctor) {
			d.Connections[0] = DoctorConn{Peer: "P", Relay: "R", HolePunchFailures: 2, HolePunchError: "boom"}
		}, "P is reached only through relay R and hole punching failed 2 time(s) (last: boom)"},
		{"relay sync, symmetric here", func(d *Doctor) {
			d.Connections[0] = DoctorConn{Peer: "P", Relay: "R", RelaySync: true, HolePunchFailures: 3, HolePunchError: "boom"}
			d.NATMapping, d.NATEvidence = "endpoint-dependent", "seen at 1 and 2"
		}, "This device's router maps ports per destination (a symmetric NAT: seen at 1 and 2)"},
		{"relay sync, symmetric there", func(d *Doctor) {
			d.Connections[0] = DoctorConn{Peer: "P", Relay: "R", RelaySync: true, HolePunchFailures: 3, HolePunchError: "boom"}
			d.NATMapping = "endpoint-independent"
		}, "the other side's router must map ports per destination"},
		{"relay sync, unknown", func(d *Doctor) {
			d.Connections[0] = DoctorConn{Peer: "P", Relay: "R", RelaySync: true, HolePunchFailures: 3, HolePunchError: "boom"}
		}, "spaces sync through it, end-to-end encrypted"},
		{"nobody found", func(d *Doctor) { d.Spaces[0].Found = nil; d.Spaces[0].Peers = nil }, "No other node holding garden"},
		{"found, not syncing", func(d *Doctor) { d.Spaces[0].Peers = nil }, "held by P, found in the DHT"},
		{"missing", func(d *Doctor) { d.Spaces[0].Peers[0].Missing = 3 }, "3 commit(s) held by P are still missing here"},
		{"extra", func(d *Doctor) { d.Spaces[0].Peers[0].Extra = 2 }, "P still lacks 2 commit(s)"},
		{"lookup failed", func(d *Doctor) { d.Spaces[0].Error = "boom" }, "failed (boom)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := healthy
			d.Connections = append([]DoctorConn(nil), healthy.Connections...)
			d.Spaces = []DoctorSpace{healthy.Spaces[0]}
			d.Spaces[0].Peers = append([]DoctorGap(nil), healthy.Spaces[0].Peers...)
			tc.change(&d)
			got := strings.Join(advise(d), "\n")
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Errorf("advice: %q, want it to contain %q", got, tc.want)
			}
		})
	}
}
