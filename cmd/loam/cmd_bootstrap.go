package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam/internal/api"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/p2p"
)

// bootstrapListen are the default listen addresses of 'loam bootstrap':
// fixed ports, so that the addresses others are given stay valid.
var bootstrapListen = []string{
	"/ip4/0.0.0.0/tcp/4001",
	"/ip4/0.0.0.0/udp/4001/quic-v1",
	"/ip6/::/tcp/4001",
	"/ip6/::/udp/4001/quic-v1",
}

func newBootstrapCmd(g *globalOptions) *cobra.Command {
	var (
		listen    []string
		dhtName   string
		peers     []string
		relayData string
		relayTime time.Duration
	)
	cmd := &cobra.Command{
		Use:   "bootstrap",
		Short: "Run a community bootstrap node: DHT server and relay, holds no user data",
		Long: `Run a community bootstrap node until Ctrl-C (SIGINT) or SIGTERM: a DHT
server, through which daemons announce and look up the spaces they hold
(by discovery ID, never by space ID), and a Circuit Relay v2 service,
through which daemons behind home routers first reach each other before a
hole punch makes their connection direct. It also tells daemons whether
they are reachable (AutoNAT). It holds no space and stores no user data.

Daemons sync through the relay only when hole punching fails (a router
that maps ports per destination, a symmetric NAT, on one side): that data
is end-to-end encrypted between the two daemons (TLS or Noise over the
relayed connection), so the relay sees only who talks to whom, sizes and
timing. Each relayed connection carries at most --relay-data bytes in
each direction for at most --relay-duration; then the relay resets it,
and the daemons reconnect and resume their sync where it was. Resource
limits (connections, streams, memory per peer and in total, 128 relay
reservations, 16 circuits per peer) are always on.

Run it on a machine with a public address. It listens on --listen
(multiaddrs, repeatable; default: TCP and QUIC port 4001 on every
interface), prints the multiaddrs others should give 'loam daemon
--bootstrap', and writes them to daemon.json in the Loam home, as the
daemon does. Give it a Loam home of its own: its peer ID comes from the
home's device key.

--dht amino (the default) serves the public libp2p DHT; --dht private
serves a DHT of Loam nodes only (for closed networks; daemons then run
with --dht private). --bootstrap names other bootstrap nodes to join.`,
		Example: `  LOAM_HOME=/srv/loam-bootstrap loam bootstrap
  loam bootstrap --dht private --listen /ip4/0.0.0.0/udp/4001/quic-v1`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			mode, err := p2p.ParseDHTMode(dhtName)
			if err != nil {
				return usageErrorf(cmd, "--dht: %v", err)
			}
			if mode == p2p.DHTOff {
				return usageErrorf(cmd, "--dht off: a bootstrap node serves a DHT; choose amino or private")
			}
			home, err := filepath.Abs(g.homeDir())
			if err != nil {
				return err
			}
			b := &bootstrapNode{home: home, listen: listen, dht: mode, peers: peers, out: cmd.OutOrStdout()}
			if b.limit, err = parseRelayLimit(relayData, relayTime); err != nil {
				return usageErrorf(cmd, "%v", err)
			}
			return b.run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&listen, "listen", nil, "listen on `MULTIADDR` (repeatable; default: TCP and QUIC port 4001, all interfaces)")
	f.StringVar(&dhtName, "dht", p2p.DHTAmino.String(), "serve `DHT`: amino (public) or private (Loam nodes only)")
	f.StringArrayVar(&peers, "bootstrap", nil, "join the other bootstrap node at `MULTIADDR` (with /p2p/; repeatable)")
	addRelayLimitFlags(cmd, &relayData, &relayTime)
	return cmd
}

// addRelayLimitFlags adds the flags that bound a relay service.
func addRelayLimitFlags(cmd *cobra.Command, data *string, d *time.Duration) {
	f, def := cmd.Flags(), p2p.DefaultRelayLimit
	f.StringVar(data, "relay-data", fmt.Sprintf("%dMiB", def.Data>>20), "relay at most `SIZE` per relayed connection and direction, e.g. 16MiB (up to 1GiB); the relay then resets it and the peers reconnect")
	durationVar(f, d, "relay-duration", def.Duration, "keep a relayed connection at most `DURATION`, e.g. 10m (up to 24h); the relay then resets it and the peers reconnect")
}

// parseRelayLimit checks the relay limit flags.
func parseRelayLimit(data string, d time.Duration) (p2p.RelayLimit, error) {
	n, err := parseSize(data)
	if err != nil {
		return p2p.RelayLimit{}, fmt.Errorf("--relay-data %q: %v", data, err)
	}
	l := p2p.RelayLimit{Data: n, Duration: d}
	if err := l.Check(); err != nil {
		return p2p.RelayLimit{}, fmt.Errorf("--relay-data %s --relay-duration %v: %v", data, d, err)
	}
	return l, nil
}

// bootstrapNode is one run of 'loam bootstrap'.
type bootstrapNode struct {
	home   string
	listen []string
	dht    p2p.DHTMode
	peers  []string
	limit  p2p.RelayLimit // per relayed connection
	out    io.Writer
}

func (b *bootstrapNode) run(ctx context.Context) (err error) {
	if err := os.MkdirAll(b.home, 0o700); err != nil {
		return fmt.Errorf("create the Loam home: %w", err)
	}
	if info, err := readDaemonFile(b.home); err == nil && processAlive(info.PID) {
		return fmt.Errorf("process %d already runs for %s (its daemon.json is there): stop it, or give this bootstrap node a Loam home of its own", info.PID, b.home)
	}
	key, err := keys.LoadOrCreateDeviceKey(b.home)
	if err != nil {
		return err
	}
	listen := b.listen
	if len(listen) == 0 {
		listen = bootstrapListen
	}
	h, err := p2p.New(ctx, p2p.Config{Key: key, Listen: listen, DHT: b.dht, Bootstrap: b.peers, Infrastructure: true, RelayLimit: b.limit})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := h.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()

	addrs := publicFirst(h.Addrs())
	info := api.DaemonInfo{Peer: p2p.PeerIDString(key.Author()), Addrs: addrs, PID: os.Getpid(), Bootstrap: true}
	if err := api.WriteDaemonInfo(b.home, info); err != nil {
		return err
	}
	defer func() {
		if rerr := api.RemoveDaemonInfo(b.home); rerr != nil && err == nil {
			err = rerr
		}
	}()

	fmt.Fprintf(b.out, "loam bootstrap node for %s\n", b.home)
	fmt.Fprintf(b.out, "peer: %s\n", info.Peer)
	fmt.Fprintf(b.out, "DHT:  %s (server), relay service on (at most %d bytes and %v per relayed connection)\n", b.dht, b.limit.Data, b.limit.Duration)
	fmt.Fprintln(b.out, "give daemons one of these with --bootstrap (reachable ones first):")
	for _, a := range addrs {
		fmt.Fprintf(b.out, "  %s\n", a)
	}
	fmt.Fprintln(b.out, "ready; stop with Ctrl-C")
	<-ctx.Done()
	fmt.Fprintln(b.out, "stopping")
	return nil
}

// publicFirst orders addrs for others to use: loopback and link-local
// addresses last, since they only work on this machine or link.
func publicFirst(addrs []string) []string {
	var first, last []string
	for _, a := range addrs {
		if strings.HasPrefix(a, "/ip4/127.") || strings.HasPrefix(a, "/ip6/::1/") || strings.HasPrefix(a, "/ip6/fe80") {
			last = append(last, a)
		} else {
			first = append(first, a)
		}
	}
	return append(first, last...)
}

// readDaemonFile reads daemon.json without the checks of
// api.ReadDaemonInfo, which refuses a bootstrap node's.
func readDaemonFile(home string) (api.DaemonInfo, error) {
	info, err := api.ReadDaemonInfo(home)
	if err == nil || errors.Is(err, os.ErrNotExist) {
		return info, err
	}
	return info, nil // a bootstrap node's daemon.json: info is filled in
}

// processAlive reports whether a process with this ID runs.
func processAlive(pid int) bool {
	return pid > 0 && syscall.Kill(pid, 0) == nil
}
