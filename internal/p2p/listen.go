package p2p

import (
	"net"
	"strconv"

	ma "github.com/multiformats/go-multiaddr"
)

// ListenAddrs returns the addresses the Host listens on as bound: the
// unspecified addresses of DefaultListen with the ports the system chose.
// A node keeps them so that after a restart it listens on the same ports
// (ReuseListen): peers that remember its addresses reach it again.
func (h *Host) ListenAddrs() []string {
	var out []string
	for _, a := range h.h.Network().ListenAddresses() {
		if len(a) > 0 && a[0].Code() == ma.P_CIRCUIT {
			continue
		}
		out = append(out, a.String())
	}
	return out
}

// listenKey names a listen address by everything but its port: "ip4 tcp",
// "ip6 udp quic-v1", ...; port is its port (0: any). ok is false for
// anything else than an IP address with a TCP or UDP port.
func listenKey(s string) (key string, port int, ok bool) {
	m, err := ma.NewMultiaddr(s)
	if err != nil {
		return "", 0, false
	}
	for i, c := range m {
		switch c.Code() {
		case ma.P_IP4, ma.P_IP6, ma.P_QUIC_V1:
			key += c.Protocol().Name + " "
		case ma.P_TCP, ma.P_UDP:
			p, err := strconv.Atoi(c.Value())
			if err != nil || i == 0 {
				return "", 0, false
			}
			key += c.Protocol().Name + " "
			port = p
		default:
			return "", 0, false
		}
	}
	return key, port, key != ""
}

// ReuseListen returns DefaultListen with the system-chosen port of each
// address replaced by the port the same kind of address had in prev (as
// ListenAddrs returned them before a restart), where that port is free
// now; the others stay port 0. A taken port thus never stops the node
// from starting.
func ReuseListen(prev []string) []string {
	ports := map[string]int{}
	for _, s := range prev {
		if k, p, ok := listenKey(s); ok && p > 0 {
			ports[k] = p
		}
	}
	out := make([]string, 0, len(DefaultListen))
	for _, s := range DefaultListen {
		k, _, _ := listenKey(s)
		m, _ := ma.NewMultiaddr(s)
		p, ok := ports[k]
		if !ok || !free(m, p) {
			out = append(out, s)
			continue
		}
		next := ""
		for _, c := range m {
			v := c.Value()
			if c.Code() == ma.P_TCP || c.Code() == ma.P_UDP {
				v = strconv.Itoa(p)
			}
			next += "/" + c.Protocol().Name
			if v != "" {
				next += "/" + v
			}
		}
		out = append(out, next)
	}
	return out
}

// free reports whether port p of the unspecified address m can be bound
// now (a moment later another program may take it: libp2p's listen then
// fails for that address, and the Host listens on the others).
func free(m ma.Multiaddr, p int) bool {
	network, host := "", ""
	for _, c := range m {
		switch c.Code() {
		case ma.P_IP4:
			host, network = c.Value(), "4"
		case ma.P_IP6:
			host, network = "["+c.Value()+"]", "6"
		case ma.P_TCP:
			network = "tcp" + network
		case ma.P_UDP:
			network = "udp" + network
		}
	}
	addr := host + ":" + strconv.Itoa(p)
	switch network[:3] {
	case "tcp":
		l, err := net.Listen(network, addr)
		if err != nil {
			return false
		}
		l.Close()
	default:
		c, err := net.ListenPacket(network, addr)
		if err != nil {
			return false
		}
		c.Close()
	}
	return true
}
