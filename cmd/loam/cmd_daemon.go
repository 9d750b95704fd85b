package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam/internal/api"
	"github.com/loamdb/loam/internal/node"
	"github.com/loamdb/loam/internal/p2p"
	"github.com/loamdb/loam/internal/ui"
)

func newDaemonCmd(g *globalOptions) *cobra.Command {
	var (
		listen    []string
		apiAddr   string
		uiListen  string
		mdns      bool
		dhtName   string
		bootstrap []string
		upload    string
		fetch     string
		relaySvc  bool
		relayData string
		relayTime time.Duration
		logs      logFlags
	)
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Run the node: sync with peers and serve the local API",
		Long: `Run this device's node until Ctrl-C (SIGINT) or SIGTERM: connect to peers,
keep the spaces held here in sync with theirs (new commits are pushed live
both ways), and serve the local HTTP API that the other loam commands use
while the daemon runs.

Peers are reached on the --listen addresses (multiaddrs, repeatable; the
default is every interface, on random TCP and QUIC ports) and, with --mdns
(on by default), found on the local network. On the internet, each space
held is announced in a Kademlia DHT under its discovery ID (a keyed hash:
the space ID never reaches the DHT) and its other holders are looked up
and connected to. --dht chooses the DHT: amino (the default, or
$LOAM_DHT when set) is the public libp2p DHT, joined in client mode
through its usual bootstrap peers; private is a DHT of Loam nodes only,
for closed networks, reached through --bootstrap; off finds peers only on
the LAN and through tickets. --bootstrap MULTIADDR (repeatable) names
bootstrap nodes ('loam bootstrap'): they are the DHT's entry points,
tell the daemon whether it is reachable, and, behind a home router, are
the relays through which peers first connect before a hole punch makes
the connection direct ('loam peers' shows which; 'loam doctor'
explains). With --dht off they still serve as relays: tickets then carry
the relayed address. When hole punching fails (a router that maps ports
per destination, a symmetric NAT), spaces sync through the relay,
end-to-end encrypted.

--relay-service makes this daemon a relay too, for a seeder ('loam seed')
on a machine with a public address: daemons connected to it (those that
hold its spaces, and joiners whose ticket names it) reserve a slot on it
and are reached through it, as through a bootstrap node. Like 'loam
bootstrap', it then declares itself publicly reachable instead of asking
AutoNAT. --relay-data and --relay-duration bound what it carries per
relayed connection.

The API listens on --api, a
loopback address only (port 0 picks a free port); every request needs the
token in the Loam home's api.token file, created on first start (mode
0600).

--ui-listen HOST:PORT (off by default; e.g. 0.0.0.0:7443) also serves the
web UI and the API over HTTPS on the home network, for your phones and
tablets: pair a browser with 'loam pair'. The node makes its own
certificate on first start (ui-cert.pem and ui-key.pem in the Loam home);
'loam ui --json' shows its fingerprint. Only paired browsers get in; the
API token is not accepted there.

Once it serves, the daemon writes daemon.json in the Loam home with its
API address, peer ID, p2p addresses and process ID: that is how the other
commands find it. It removes the file when it stops. Only one process may
use a Loam home: a second daemon for the same home fails with "in use".
The daemon creates the Loam home if there is none.

The daemon logs what happens, one line per event, on stderr: peers
connecting (directly or through a relay) and leaving, joins, invites used,
revocations, commits and peers refused (with the reason), blob fetches,
and errors. --log-level chooses the least severe level logged (debug,
info, warn, error); --log-format text writes key=value lines, json one
JSON object a line. Logs name peers, members, spaces, commits and blobs
by ID; they hold no ticket, key, token or data.`,
		Example: `  loam daemon
  loam daemon --api 127.0.0.1:0 --listen /ip4/0.0.0.0/tcp/4001 --listen /ip4/0.0.0.0/udp/4001/quic-v1
  LOAM_HOME=/srv/loam loam daemon --mdns=false
  loam daemon --dht private --bootstrap /ip4/203.0.113.7/udp/4001/quic-v1/p2p/12D3KooW…
  loam daemon --log-format json --log-level debug 2>>loam.log`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			host, _, err := net.SplitHostPort(apiAddr)
			if err != nil || !api.LoopbackHost(host) {
				return usageErrorf(cmd, "--api %s is not a loopback HOST:PORT: the API listens only on 127.0.0.1, [::1] or localhost (e.g. --api 127.0.0.1:7777)", apiAddr)
			}
			if uiListen != "" {
				if _, _, err := net.SplitHostPort(uiListen); err != nil {
					return usageErrorf(cmd, "--ui-listen %s is not a HOST:PORT (e.g. --ui-listen 0.0.0.0:7443)", uiListen)
				}
			}
			mode, err := p2p.ParseDHTMode(dhtName)
			if err != nil {
				return usageErrorf(cmd, "--dht: %v", err)
			}
			if mode == p2p.DHTPrivate && len(bootstrap) == 0 {
				return usageErrorf(cmd, "--dht private needs at least one --bootstrap MULTIADDR: a private DHT has no public entry points")
			}
			home, err := filepath.Abs(g.homeDir())
			if err != nil {
				return err
			}
			d := &daemon{home: home, listen: listen, api: apiAddr, uiListen: uiListen, mdns: mdns, dht: mode, bootstrap: bootstrap, relayService: relaySvc, out: cmd.OutOrStdout()}
			if d.log, err = logs.logger(cmd.ErrOrStderr()); err != nil {
				return usageErrorf(cmd, "%v", err)
			}
			if d.relayLimit, err = parseRelayLimit(relayData, relayTime); err != nil {
				return usageErrorf(cmd, "%v", err)
			}
			if d.uploadRate, err = parseSize(upload); err != nil {
				return usageErrorf(cmd, "--upload-rate %q: %v", upload, err)
			}
			if d.fetchBlobs, err = parseFetchBlobs(fetch); err != nil {
				return usageErrorf(cmd, "--fetch-blobs %q: %v", fetch, err)
			}
			return d.run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&listen, "listen", nil, "listen for peers on `MULTIADDR` (repeatable; default: all interfaces, random ports)")
	f.StringVar(&apiAddr, "api", api.DefaultAddr, "serve the HTTP API on `HOST:PORT`, a loopback address (port 0: a free port)")
	f.StringVar(&uiListen, "ui-listen", "", "also serve the web UI over HTTPS to paired phones on the home network at `HOST:PORT`, e.g. 0.0.0.0:7443 (see 'loam pair')")
	f.BoolVar(&mdns, "mdns", true, "find peers on the local network with mDNS")
	f.StringVar(&dhtName, "dht", defaultDHT(), "find peers on the internet through `DHT`: amino (public), private (Loam only, needs --bootstrap) or off")
	f.StringArrayVar(&bootstrap, "bootstrap", nil, "use the bootstrap node at `MULTIADDR` (with /p2p/; repeatable) as DHT entry point and relay")
	f.StringVar(&upload, "upload-rate", "0", "serve blob data to peers at most at `SIZE` per second, e.g. 5MiB (0: no limit)")
	f.BoolVar(&relaySvc, "relay-service", false, "relay for daemons behind NATs that connect to this one (give it only on a machine with a public address, e.g. a seeder)")
	addRelayLimitFlags(cmd, &relayData, &relayTime)
	addLogFlags(cmd, &logs)
	f.StringVar(&fetch, "fetch-blobs", "64MiB", "fetch blobs referenced by spaces as soon as they are seen up to `SIZE`; larger ones when read (all, none, or a size)")
	return cmd
}

// dhtEnv overrides the default of --dht: tests set it to "off" so that no
// daemon they start reaches the public DHT.
const dhtEnv = "LOAM_DHT"

// defaultDHT is the default of --dht: $LOAM_DHT, or amino.
func defaultDHT() string {
	if v := os.Getenv(dhtEnv); v != "" {
		return v
	}
	return p2p.DHTAmino.String()
}

// daemon is one run of 'loam daemon'.
type daemon struct {
	home   string
	listen []string
	api    string
	// uiListen is --ui-listen: "" serves no listener for phones
	uiListen string
	mdns     bool
	dht      p2p.DHTMode
	// bootstrap nodes' multiaddrs
	bootstrap []string
	out       io.Writer

	uploadRate   int64 // see node.Options
	fetchBlobs   int64
	relayService bool
	relayLimit   p2p.RelayLimit
	log          *slog.Logger // the node's events, on stderr
}

// run serves until ctx ends (a signal), then stops cleanly: daemon.json
// goes first, so no command finds a daemon that is stopping, then the API
// (both in api.Daemon.Close), then the node.
func (d *daemon) run(ctx context.Context) (err error) {
	n, err := node.Open(ctx, node.Options{
		Home: d.home, Listen: d.listen, MDNS: d.mdns, DHT: d.dht, Bootstrap: d.bootstrap,
		UploadRate: d.uploadRate, FetchBlobs: d.fetchBlobs,
		RelayService: d.relayService, RelayLimit: d.relayLimit, Logger: d.log,
	})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := n.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close the node: %w", cerr)
		}
	}()
	dm, err := api.Serve(ctx, n, api.ServeOptions{Addr: d.api, UIListen: d.uiListen, UI: ui.Files(), Logger: d.log})
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "listen" {
			return fmt.Errorf("serve the API: %v (if another daemon uses the port, choose another with --api, or --api 127.0.0.1:0 for a free one)", op)
		}
		return err
	}
	defer func() {
		if cerr := dm.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	info := dm.Info()

	fmt.Fprintf(d.out, "loam daemon for %s\n", d.home)
	fmt.Fprintf(d.out, "API:  http://%s (token in %s)\n", info.API, filepath.Join(d.home, api.TokenFile))
	fmt.Fprintf(d.out, "web UI: %s\n  (a one-time login link, valid for %d minutes; 'loam ui' prints a new one)\n", dm.LoginURL(), int(api.LoginTTL.Minutes()))
	if a := dm.UIListenAddr(); a != "" {
		fmt.Fprintf(d.out, "phones: https://%s (pair a browser with 'loam pair'; certificate SPKI SHA-256 %s)\n", a, dm.UICert().SPKI)
	}
	fmt.Fprintf(d.out, "peer: %s\n", info.Peer)
	fmt.Fprintf(d.out, "DHT:  %s", d.dht)
	if len(d.bootstrap) > 0 {
		fmt.Fprintf(d.out, " through %d bootstrap node(s)", len(d.bootstrap))
	}
	fmt.Fprintln(d.out)
	fmt.Fprintln(d.out, "p2p addresses:")
	for _, a := range info.Addrs {
		fmt.Fprintf(d.out, "  %s\n", a)
	}
	if d.relayService && !p2p.HasPublicAddr(info.Addrs) {
		fmt.Fprintln(d.out, "warning: --relay-service, but none of these addresses is public: peers behind NATs that reserve a slot here cannot be reached through it. Run the relay on a machine with a public address (or forward its port and give --listen that address).")
	}
	if err := n.Store().Room(); err != nil {
		fmt.Fprintf(d.out, "warning: %v\n  (reads work; writes fail until there is room)\n", err)
	}
	fmt.Fprintln(d.out, "ready; stop with Ctrl-C")

	select {
	case <-ctx.Done():
		fmt.Fprintln(d.out, "stopping")
		return nil
	case <-dm.Done():
		return fmt.Errorf("the API server stopped: %w", dm.Err())
	}
}

// parseSize parses a byte count: a whole number with an optional unit, B,
// k or KiB (1024), KB (1000), M or MiB, MB, G or GiB, GB; case does not
// matter for the single letters.
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := len(t)
	for i > 0 && (t[i-1] < '0' || t[i-1] > '9') {
		i--
	}
	num, unit := t[:i], strings.TrimSpace(t[i:])
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("want a size such as 512KiB, 5MiB or 1GB")
	}
	mult := map[string]int64{
		"": 1, "b": 1, "k": 1 << 10, "kib": 1 << 10, "kb": 1000,
		"m": 1 << 20, "mib": 1 << 20, "mb": 1000 * 1000,
		"g": 1 << 30, "gib": 1 << 30, "gb": 1000 * 1000 * 1000,
	}[strings.ToLower(unit)]
	if mult == 0 {
		return 0, fmt.Errorf("unknown unit %q: use B, KiB, MiB, GiB, KB, MB or GB", unit)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("too large")
	}
	return n * mult, nil
}

// parseFetchBlobs parses --fetch-blobs: "all", "none" or a size.
func parseFetchBlobs(s string) (int64, error) {
	switch strings.ToLower(s) {
	case "all":
		return node.NoBlobLimit, nil
	case "none", "0":
		return -1, nil
	}
	return parseSize(s)
}
