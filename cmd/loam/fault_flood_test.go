package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/ackcheck"
	"github.com/loamdb/loam/internal/api"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/p2p"
	"github.com/loamdb/loam/internal/reconcile"
	"github.com/loamdb/loam/internal/testkit"
)

// Limits the flood tests hold a daemon to (issue 10, docs/reliability.md).
const (
	maxDaemonRSS = 300 << 20
	// honestWithin bounds how long an honest write takes to reach the
	// other honest daemon during an attack.
	honestWithin = 10 * time.Second
)

// floodForDefault is how long each flood lasts; LOAM_FLOOD_SECONDS changes
// it.
const floodForDefault = 15 * time.Second

func floodDuration(t *testing.T) time.Duration {
	return time.Duration(testkit.EnvInt(t, "LOAM_FLOOD_SECONDS", int64(floodForDefault/time.Second), 1, 3600)) * time.Second
}

// victim is a daemon under attack, A, and an honest daemon, B, that syncs
// a space with it.
type victim struct {
	ca, cb *api.Client // A's and B's APIs
	pid    int         // A's process
	addr   string      // A's multiaddr for attackers
	space  keys.SpaceID
	author keys.AuthorID // A's
	check  *ackcheck.Checker
}

// spaceImport returns n keys of 1 KiB as import input, and records them in
// check.
func spaceImport(n int, check *ackcheck.Checker) string {
	var in strings.Builder
	value := strings.Repeat("v", 1<<10)
	for i := range n {
		fmt.Fprintf(&in, `{"key":"item/%06d","value":"%d %s"}`+"\n", i, i, value)
		check.Acked(ackcheck.Write{Space: "garden", Key: fmt.Sprintf("item/%06d", i), Value: fmt.Sprintf("%d %s", i, value), Writer: "import"})
	}
	return in.String()
}

// newVictim starts the attacked daemon A on loopback with a space of n
// keys of 1 KiB (so that a peer asking for everything has megabytes to
// receive) and an honest daemon B that joined it and caught up.
func newVictim(t *testing.T, n int) *victim {
	t.Helper()
	v := &victim{check: ackcheck.New()}
	a, b := newHome(t), newHome(t)
	a.timeout, b.timeout = 2*time.Minute, 2*time.Minute
	da := startDaemon(t, a, loopbackDaemon...)
	db := startDaemon(t, b, loopbackDaemon...)
	v.ca, v.cb, v.pid, v.addr = da.client, db.client, da.cmd.Process.Pid, da.info.Addrs[0]
	id := strings.TrimSpace(a.ok("", "space", "create", "garden"))
	a.ok(spaceImport(n, v.check), "import", "garden")
	b.ok("", "join", strings.TrimSpace(a.ok("", "invite", "garden")))
	v.ready(t, id, da.info.Peer)
	return v
}

// ready waits for A and B to converge and parses A's identity.
func (v *victim) ready(t *testing.T, space, peer string) {
	t.Helper()
	waitConverged(t, time.Minute, "garden", v.clients())
	var err error
	if v.space, err = keys.ParseSpaceID(space); err != nil {
		t.Fatal(err)
	}
	if v.author, err = p2p.ParsePeerID(peer); err != nil {
		t.Fatal(err)
	}
}

func (v *victim) clients() map[string]*api.Client {
	return map[string]*api.Client{"A (attacked)": v.ca, "B (honest)": v.cb}
}

// underAttack runs attack for d while it samples A's RSS and makes
// honest writes on both daemons, each of which must reach the other
// within honestWithin. Then it stops the attack, checks that A's peak RSS
// stayed under maxDaemonRSS, that both converge and every acknowledged
// write is on both.
func (v *victim) underAttack(t *testing.T, d time.Duration, attack func(ctx context.Context)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	var peak int64
	wg.Go(func() { // RSS sampler
		for ctx.Err() == nil {
			if rss, err := rssOf(v.pid); err == nil {
				peak = max(peak, rss)
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
	before, _ := rssOf(v.pid)
	wg.Go(func() { attack(ctx) })
	var probes []time.Duration
	for i := 0; ctx.Err() == nil; i++ {
		from, to, name := v.cb, v.ca, "B→A"
		if i%2 == 1 {
			from, to, name = v.ca, v.cb, "A→B"
		}
		took, err := v.probe(from, to, i)
		if err != nil {
			t.Errorf("honest write %d (%s) during the attack: %v", i, name, err)
			continue
		}
		probes = append(probes, took)
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	cancel()
	wg.Wait()
	var worst time.Duration
	for _, p := range probes {
		worst = max(worst, p)
	}
	t.Logf("A's RSS: %d MiB before, peak %d MiB under attack; %d honest writes crossed, the slowest in %v", before>>20, peak>>20, len(probes), worst.Round(time.Millisecond))
	if peak > maxDaemonRSS {
		t.Errorf("A's RSS peaked at %d MiB under attack, over the %d MiB limit", peak>>20, maxDaemonRSS>>20)
	}
	if len(probes) == 0 {
		t.Errorf("no honest write crossed during the attack")
	}
	took := waitConverged(t, time.Minute, "garden", v.clients())
	t.Logf("converged %v after the attack", took.Round(time.Millisecond))
	checkReplicas(t, v.check, "garden", v.clients())
	st, err := v.ca.Status(context.Background())
	if err == nil {
		t.Logf("A's refusals: %v", st.Refusals)
	}
}

// probe puts a key on from and waits until to shows it.
func (v *victim) probe(from, to *api.Client, i int) (time.Duration, error) {
	w := ackcheck.Write{Space: "garden", Key: fmt.Sprintf("probe/%04d", i), Value: v.check.Unique("probe"), Writer: fmt.Sprintf("probe %d", i)}
	ctx, cancel := context.WithTimeout(context.Background(), honestWithin)
	defer cancel()
	start := time.Now()
	if err := from.Put(ctx, "garden", []byte(w.Key), []byte(w.Value)); err != nil {
		v.check.InDoubt(w)
		return 0, fmt.Errorf("put: %w", err)
	}
	v.check.Acked(w)
	for {
		e, err := to.Get(ctx, "garden", []byte(w.Key))
		if err == nil && e.Value != nil && *e.Value == w.Value {
			return time.Since(start), nil
		}
		if ctx.Err() != nil {
			return 0, fmt.Errorf("not there after %v", honestWithin)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}

// newAttacker returns a peer made with Loam's own p2p package, with a
// fresh identity, connected to the victim.
func (v *victim) newAttacker(ctx context.Context) (*p2p.Host, error) {
	key, err := keys.NewDeviceKey()
	if err != nil {
		return nil, err
	}
	h, err := p2p.New(ctx, p2p.Config{Key: key, Listen: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		return nil, err
	}
	if _, err := h.Connect(ctx, v.addr); err != nil {
		h.Close()
		return nil, err
	}
	return h, nil
}

// openSync opens a sync stream from h to the victim and proves the space:
// anyone who knows a public space's ID can.
func (v *victim) openSync(ctx context.Context, h *p2p.Host) (p2p.Stream, *reconcile.StreamConn, error) {
	s, err := h.Open(ctx, v.author, reconcile.ProtocolID)
	if err != nil {
		return nil, nil, err
	}
	conn := reconcile.NewStreamConn(s, s)
	disc := keys.DiscoveryID(v.space)
	hello := &reconcile.Msg{Type: 1, Version: reconcile.Version, Spaces: []reconcile.SpaceProof{{Disc: disc, Proof: keys.SyncProof(v.space, h.ID(), v.author)}}}
	if err := conn.WriteFrame(hello.Encode()); err != nil {
		s.Reset()
		return nil, nil, err
	}
	return s, conn, nil
}

// floodIdentities is how many peer identities each loopback attack uses:
// as many as one IPv4 address may hold connections for at a time
// (go-libp2p's connection limiter), though loopback is exempt from it.
const floodIdentities = 8

// TestFloodNeverReads is a resource-exhaustion test of the fault suite
// (docs/reliability.md): peers that know the space's ID ask the daemon for
// the whole space (20 MB) and never read; each opens a new sync stream
// every second, never reading any. The daemon's RSS must stay under
// 300 MB, and an honest daemon keeps syncing with it: each honest write
// crosses within 10 s.
func TestFloodNeverReads(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: a 15-second attack on a daemon")
	}
	t.Parallel()
	v := newVictim(t, 20_000)
	disc := keys.DiscoveryID(v.space)
	var mu sync.Mutex
	opened, connected := 0, 0
	v.underAttack(t, floodDuration(t), func(ctx context.Context) {
		var wg sync.WaitGroup
		for range floodIdentities {
			wg.Go(func() {
				h, err := v.newAttacker(ctx)
				if err != nil {
					return
				}
				defer h.Close()
				defer func() { // still connected at the end of the attack?
					for _, p := range h.Peers() {
						if p.ID == v.author && p.Connected {
							mu.Lock()
							connected++
							mu.Unlock()
						}
					}
				}()
				for ctx.Err() == nil {
					s, conn, err := v.openSync(ctx, h)
					if err != nil {
						if _, err := h.Connect(ctx, v.addr); err != nil {
							time.Sleep(100 * time.Millisecond) // knock again soon
						}
						continue
					}
					defer s.Reset()
					// No heads: send me everything. Then never read.
					if err := conn.WriteFrame((&reconcile.Msg{Type: 2, Disc: disc}).Encode()); err == nil {
						mu.Lock()
						opened++
						mu.Unlock()
					}
					select {
					case <-ctx.Done():
					case <-time.After(time.Second):
					}
				}
			})
		}
		wg.Wait()
	})
	t.Logf("%d identities opened %d sync streams that asked for everything and were never read; %d were still connected at the end", floodIdentities, opened, connected)
	if opened < floodIdentities {
		t.Errorf("the attackers opened only %d streams: the attack did not run", opened)
	}
}

// maxHave returns a Have message for space disc of the largest size a
// frame may have (reconcile.MaxFrame), with heads of random authors.
func maxHave(disc keys.Digest) []byte {
	var heads []reconcile.Head
	for {
		var h reconcile.Head
		rand.Read(h.Author[:])
		rand.Read(h.ID[:])
		h.Seq = 1 << 40 // a 9-byte integer: every head encodes to the same size
		heads = append(heads, h)
		if len(heads)%1024 == 0 {
			// A Have lists its heads in author order (out of order it is
			// malformed, and the attacker cut off at once).
			slices.SortFunc(heads, func(a, b reconcile.Head) int { return bytes.Compare(a.Author[:], b.Author[:]) })
			if b := (&reconcile.Msg{Type: 2, Disc: disc, Heads: heads}).Encode(); len(b) > reconcile.MaxFrame-80<<10 {
				for len(b) > reconcile.MaxFrame {
					heads = heads[:len(heads)-1]
					b = (&reconcile.Msg{Type: 2, Disc: disc, Heads: heads}).Encode()
				}
				return b
			}
		}
	}
}

// TestFloodMaxFrames is a resource-exhaustion test of the fault suite
// (docs/reliability.md): peers that know the space's ID send the daemon
// frames of the largest size the protocol allows, on sync streams: half
// of them valid Have messages of ~54,000 made-up heads, again and again;
// the other half a frame header announcing that size and then a byte
// every 100 ms. The daemon's RSS must stay under 300 MB, and an honest
// daemon keeps syncing with it: each honest write crosses within 10 s.
func TestFloodMaxFrames(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: a 15-second attack on a daemon")
	}
	t.Parallel()
	v := newVictim(t, 2_000)
	have := maxHave(keys.DiscoveryID(v.space))
	t.Logf("a Have of %d bytes (the frame limit is %d)", len(have), reconcile.MaxFrame)
	var mu sync.Mutex
	var full, trickled int
	v.underAttack(t, floodDuration(t), func(ctx context.Context) {
		var wg sync.WaitGroup
		for i := range floodIdentities {
			wg.Go(func() {
				for ctx.Err() == nil { // a new identity when the last one is cut off
					h, err := v.newAttacker(ctx)
					if err != nil {
						time.Sleep(100 * time.Millisecond) // knock again soon
						continue
					}
					s, conn, err := v.openSync(ctx, h)
					if err != nil {
						h.Close()
						continue
					}
					if i%2 == 0 {
						for ctx.Err() == nil && conn.WriteFrame(have) == nil {
							mu.Lock()
							full++
							mu.Unlock()
						}
					} else {
						mu.Lock()
						trickled++
						mu.Unlock()
						hdr := binary.AppendUvarint(nil, reconcile.MaxFrame)
						for _, err := s.Write(hdr); err == nil && ctx.Err() == nil; _, err = s.Write([]byte{0xa1}) {
							select {
							case <-ctx.Done():
							case <-time.After(100 * time.Millisecond):
							}
						}
					}
					s.Reset()
					h.Close()
				}
			})
		}
		wg.Wait()
	})
	t.Logf("%d maximum-size Have frames sent; %d streams trickled a maximum-size frame", full, trickled)
	if full == 0 || trickled == 0 {
		t.Errorf("the attack did not run: %d full frames, %d trickled", full, trickled)
	}
}
