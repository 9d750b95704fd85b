package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"time"

	"github.com/loamdb/loam"
)

// runSyncDemo is the demo's second part: three nodes on this machine,
// joined by tickets over loopback, writing and watching live.
func runSyncDemo(ctx context.Context, out io.Writer, home string) error {
	var mu sync.Mutex // serializes the demo's output lines
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(out, format+"\n", args...)
	}
	names := []string{"ana", "bo", "chen"}
	nodes := make([]*loam.Node, len(names))
	for i, name := range names {
		n, err := loam.Open(ctx, loam.Options{Home: filepath.Join(home, name), Network: true, Listen: []string{"/ip4/127.0.0.1/tcp/0"}})
		if err != nil {
			return err
		}
		defer n.Close()
		nodes[i] = n
	}
	say("\nNow three neighbours, each with a node of their own on this machine (Ana,")
	say("Bo and Chen), listening on loopback:")
	for i, n := range nodes {
		say("  %-5s %s", names[i], n.Addrs()[0])
	}
	sp, err := nodes[0].CreateSpace(ctx, "street", loam.Public)
	if err != nil {
		return err
	}
	say("\nAna creates the space \"street\" and invites the others. A ticket carries the")
	say("space, an invite key and Ana's addresses; joining syncs the space and grants")
	say("the joiner write access through the invite:")
	spaces := []*loam.Space{sp}
	for i := 1; i < len(nodes); i++ {
		t, err := sp.Invite(ctx, loam.Write, time.Hour)
		if err != nil {
			return err
		}
		start := time.Now()
		jsp, err := nodes[i].Join(ctx, t)
		if err != nil {
			return err
		}
		spaces = append(spaces, jsp)
		say("  %s joins with %.40s… in %s", names[i], t, time.Since(start).Round(time.Millisecond))
	}

	say("\nEach of them watches chat/; every message is printed where it arrives:")
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	want := len(names) * len(names)
	seen := make(chan struct{}, want)
	for i, s := range spaces {
		ch, err := s.Watch(wctx, loam.Prefix("chat/"))
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range ch {
				say("  [%-4s] %s = %s  (%s after it was written)", names[i], shortKey(string(c.Key)), c.Value, time.Since(c.Time).Round(100*time.Microsecond))
				seen <- struct{}{}
			}
		}()
	}
	for i, s := range spaces {
		msg := [...]string{"Ana: the street party is on Saturday!", "Bo: I'll bring the long table.", "Chen: and I the lights."}[i]
		key := fmt.Sprintf("chat/msg/general/%d-%s", time.Now().UnixMilli(), nodes[i].Author()) // the chat's layout (docs/apps.md)
		if err := s.Put(ctx, []byte(key), []byte(fmt.Sprintf(`{"text":%q}`, msg))); err != nil {
			return err
		}
	}
	timeout := time.After(10 * time.Second)
	for range want {
		select {
		case <-seen:
		case <-timeout:
			return errors.New("demo: not every message reached every node within 10 seconds")
		}
	}
	cancel()
	wg.Wait()

	say("\nEvery node holds the same view of the space:")
	for i, s := range spaces {
		st, err := s.State(ctx)
		if err != nil {
			return err
		}
		say("  %-5s %d keys, view hash %.16s…", names[i], st.Keys, st.Hash)
	}
	peers, err := nodes[1].Peers(ctx)
	if err != nil {
		return err
	}
	for _, p := range peers {
		kind := "relayed"
		if p.Direct {
			kind = "direct"
		}
		say("Bo is connected to %.16s… (%s), sharing %d space(s).", p.Peer, kind, len(p.Spaces))
	}
	say("\nTo sync real nodes: run 'loam daemon' on each, 'loam invite SPACE' on one")
	say("and 'loam join TICKET' on the others.")
	return nil
}
