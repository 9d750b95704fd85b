package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"path/filepath"
	"time"

	"github.com/loamdb/loam"
	"github.com/loamdb/loam/internal/api"
	"github.com/loamdb/loam/internal/node"
	"github.com/loamdb/loam/internal/ui"
)

// webNode is one of the web demo's nodes with its API and web UI served
// on loopback, as 'loam daemon' serves them, and a loam.Node connected to
// it through that API: the demo writes as any program would.
type webNode struct {
	name string
	home string // its Loam home, which 'loam --home HOME ui' takes
	n    *node.Node
	d    *api.Daemon
	c    *loam.Node
}

// stop lets go of the API, stops serving it and closes the node.
func (w *webNode) stop() error {
	w.c.Close()
	err := w.d.Close()
	if cerr := w.n.Close(); err == nil {
		err = cerr
	}
	return err
}

// runWebDemo is the demo's third part, with --serve: three nodes, each
// serving the web UI, sharing the space "community" with some chat and a
// tool library, until ctx ends (Ctrl-C).
func runWebDemo(ctx context.Context, out io.Writer, home string) (err error) {
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	var nodes []*webNode
	defer func() {
		for _, w := range nodes {
			if cerr := w.stop(); cerr != nil && err == nil {
				err = cerr
			}
		}
	}()
	for _, name := range []string{"ana", "bo", "chen"} {
		w, err := startWebNode(ctx, name, filepath.Join(home, "web-"+name))
		if err != nil {
			return err
		}
		nodes = append(nodes, w)
	}

	sp, err := nodes[0].c.CreateSpace(ctx, "community", loam.Public)
	if err != nil {
		return err
	}
	spaces := []*loam.Space{sp}
	for _, w := range nodes[1:] {
		t, err := sp.Invite(ctx, loam.Write, 24*time.Hour)
		if err != nil {
			return err
		}
		s, err := w.c.Join(ctx, t)
		if err != nil {
			return fmt.Errorf("%s joins: %w", w.name, err)
		}
		spaces = append(spaces, s)
	}
	if err := demoAppData(ctx, nodes, spaces); err != nil {
		return err
	}

	say("\nThe web UI. Three more nodes on this machine (Ana, Bo and Chen) serve it, as")
	say("'loam daemon' does, and share the space \"community\" with a chat and a tool")
	say("library. Open each link in a different browser (or a private window: a link")
	say("logs in once), post in Chat or lend a tool on one, and watch it arrive on the")
	say("others:")
	for _, w := range nodes {
		say("  %-5s %s", w.name, w.d.LoginURL())
	}
	say("A link logs in once. For a new one (another browser, or after a sign-out),")
	say("run 'loam ui' with the node's home while the demo runs:")
	for _, w := range nodes {
		say("  %-5s loam --home %s ui", w.name, w.home)
	}
	say("They keep running until Ctrl-C.")
	<-ctx.Done()
	say("stopping")
	return nil
}

func startWebNode(ctx context.Context, name, home string) (*webNode, error) {
	n, err := node.Open(ctx, node.Options{Home: home, Listen: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		return nil, err
	}
	d, err := api.Serve(ctx, n, api.ServeOptions{Addr: "127.0.0.1:0", UI: ui.Files()})
	if err != nil {
		n.Close()
		return nil, err
	}
	c, err := loam.Connect(ctx, home)
	if err != nil {
		d.Close()
		n.Close()
		return nil, err
	}
	return &webNode{name: name, home: home, n: n, d: d, c: c}, nil
}

// demoAppData writes some chat and tool library data in the key layouts
// of docs/apps.md, each node its own (spaces[i] is nodes[i]'s), and waits
// until every node has all of it.
func demoAppData(ctx context.Context, nodes []*webNode, spaces []*loam.Space) error {
	now := time.Now().Add(-time.Hour)
	id := func(i int, w *webNode) string {
		return fmt.Sprintf("%013d-%s", now.Add(time.Duration(i)*time.Minute).UnixMilli(), w.c.Author())
	}
	js := func(v any) []byte { b, _ := json.Marshal(v); return b }
	ana, bo, chen := nodes[0], nodes[1], nodes[2]
	drill, ladder := id(1, ana), id(2, chen)
	req := id(20, bo)
	type put struct {
		key   string
		value []byte
	}
	puts := [][]put{
		{
			{"chat/nick/" + ana.c.Author(), js(map[string]string{"nick": "Ana"})},
			{"chat/channel/general", js(map[string]string{"created": now.UTC().Format(time.RFC3339)})},
			{"chat/topic/general", js(map[string]string{"topic": "Our street: news, help, things to share"})},
			{"chat/msg/general/" + id(10, ana), js(map[string]string{"text": "Street party on Saturday! Who can bring tables?"})},
			{"tools/item/" + drill, js(map[string]string{"name": "Cordless drill", "description": "18 V, two batteries and a box of bits.", "condition": "good", "photo_type": "image/png"})},
			{"tools/photo/" + drill, demoPhoto(color.RGBA{0x2e, 0x6b, 0x3a, 255})},
		},
		{
			{"chat/nick/" + bo.c.Author(), js(map[string]string{"nick": "Bo"})},
			{"chat/msg/general/" + id(11, bo), js(map[string]string{"text": "I'll bring the long table."})},
			{"chat/channel/swap", js(map[string]string{"created": now.UTC().Format(time.RFC3339)})},
			{"chat/msg/swap/" + id(12, bo), js(map[string]string{"text": "Giving away tomato seedlings, come by."})},
			{"tools/req/" + drill + "/" + req, js(map[string]string{"note": "For the shelves, Saturday morning?"})},
		},
		{
			{"chat/nick/" + chen.c.Author(), js(map[string]string{"nick": "Chen"})},
			{"chat/msg/general/" + id(13, chen), js(map[string]string{"text": "And I the lights."})},
			{"tools/item/" + ladder, js(map[string]string{"name": "Ladder", "description": "Aluminium, 3 m.", "condition": "like new", "photo_type": "image/png"})},
			{"tools/photo/" + ladder, demoPhoto(color.RGBA{0x6b, 0x44, 0x24, 255})},
		},
	}
	for i, w := range nodes {
		b := spaces[i].Batch()
		for _, p := range puts[i] {
			b.Put([]byte(p.key), p.value)
		}
		if err := b.Commit(ctx); err != nil {
			return fmt.Errorf("%s writes: %w", w.name, err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var hashes []string
		for _, sp := range spaces {
			st, err := sp.State(ctx)
			if err != nil {
				return err
			}
			hashes = append(hashes, st.Hash)
		}
		if hashes[0] == hashes[1] && hashes[1] == hashes[2] {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("demo: the web nodes did not sync within 20 seconds")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond): // re-check interval
		}
	}
}

// demoPhoto draws a small picture for a demo tool: a tool-ish shape on a
// coloured background.
func demoPhoto(bg color.RGBA) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 160, 120))
	for y := range 120 {
		for x := range 160 {
			c := bg
			c.R += uint8(y / 4)
			c.G += uint8(x / 8)
			if x > 40 && x < 120 && y > 50 && y < 70 || x > 100 && x < 120 && y > 30 && y < 90 {
				c = color.RGBA{0xf6, 0xf2, 0xec, 255}
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	png.Encode(&buf, img)
	return buf.Bytes()
}
