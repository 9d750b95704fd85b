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

	"github.com/loamdb/loam/internal/api"
	"github.com/loamdb/loam/internal/node"
	"github.com/loamdb/loam/internal/ui"
)

// webNode is one of the web demo's nodes with its API and web UI served
// on loopback, as 'loam daemon' serves them.
type webNode struct {
	name string
	n    *node.Node
	d    *api.Daemon
	c    *api.Client
}

// stop stops serving the node's API and closes the node.
func (w *webNode) stop() error {
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

	ana := nodes[0]
	if _, err := ana.c.CreateSpace(ctx, "community"); err != nil {
		return err
	}
	for _, w := range nodes[1:] {
		t, err := ana.c.Invite(ctx, "community", "write", 24*time.Hour)
		if err != nil {
			return err
		}
		if _, err := w.c.Join(ctx, t); err != nil {
			return fmt.Errorf("%s joins: %w", w.name, err)
		}
	}
	if err := demoAppData(ctx, nodes); err != nil {
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
	return &webNode{name: name, n: n, d: d, c: d.Client()}, nil
}

// demoAppData writes some chat and tool library data in the key layouts
// of docs/apps.md, each node its own, and waits until every node has all
// of it.
func demoAppData(ctx context.Context, nodes []*webNode) error {
	now := time.Now().Add(-time.Hour)
	id := func(i int, w *webNode) string {
		return fmt.Sprintf("%013d-%s", now.Add(time.Duration(i)*time.Minute).UnixMilli(), w.n.Author())
	}
	js := func(v any) []byte { b, _ := json.Marshal(v); return b }
	ana, bo, chen := nodes[0], nodes[1], nodes[2]
	drill, ladder := id(1, ana), id(2, chen)
	req := id(20, bo)
	ops := map[*webNode][]api.BatchOp{
		ana: {
			api.PutOp([]byte("chat/nick/"+ana.n.Author().String()), js(map[string]string{"nick": "Ana"})),
			api.PutOp([]byte("chat/channel/general"), js(map[string]string{"created": now.UTC().Format(time.RFC3339)})),
			api.PutOp([]byte("chat/topic/general"), js(map[string]string{"topic": "Our street: news, help, things to share"})),
			api.PutOp([]byte("chat/msg/general/"+id(10, ana)), js(map[string]string{"text": "Street party on Saturday! Who can bring tables?"})),
			api.PutOp([]byte("tools/item/"+drill), js(map[string]string{"name": "Cordless drill", "description": "18 V, two batteries and a box of bits.", "condition": "good", "photo_type": "image/png"})),
			api.PutOp([]byte("tools/photo/"+drill), demoPhoto(color.RGBA{0x2e, 0x6b, 0x3a, 255})),
		},
		bo: {
			api.PutOp([]byte("chat/nick/"+bo.n.Author().String()), js(map[string]string{"nick": "Bo"})),
			api.PutOp([]byte("chat/msg/general/"+id(11, bo)), js(map[string]string{"text": "I'll bring the long table."})),
			api.PutOp([]byte("chat/channel/swap"), js(map[string]string{"created": now.UTC().Format(time.RFC3339)})),
			api.PutOp([]byte("chat/msg/swap/"+id(12, bo)), js(map[string]string{"text": "Giving away tomato seedlings, come by."})),
			api.PutOp([]byte("tools/req/"+drill+"/"+req), js(map[string]string{"note": "For the shelves, Saturday morning?"})),
		},
		chen: {
			api.PutOp([]byte("chat/nick/"+chen.n.Author().String()), js(map[string]string{"nick": "Chen"})),
			api.PutOp([]byte("chat/msg/general/"+id(13, chen)), js(map[string]string{"text": "And I the lights."})),
			api.PutOp([]byte("tools/item/"+ladder), js(map[string]string{"name": "Ladder", "description": "Aluminium, 3 m.", "condition": "like new", "photo_type": "image/png"})),
			api.PutOp([]byte("tools/photo/"+ladder), demoPhoto(color.RGBA{0x6b, 0x44, 0x24, 255})),
		},
	}
	for _, w := range nodes {
		if _, err := w.c.Batch(ctx, "community", ops[w]); err != nil {
			return fmt.Errorf("%s writes: %w", w.name, err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var hashes []string
		for _, w := range nodes {
			st, err := w.c.Status(ctx)
			if err != nil {
				return err
			}
			for _, s := range st.Spaces {
				if s.Name == "community" {
					hashes = append(hashes, s.ViewHash)
				}
			}
		}
		if len(hashes) == 3 && hashes[0] == hashes[1] && hashes[1] == hashes[2] {
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
