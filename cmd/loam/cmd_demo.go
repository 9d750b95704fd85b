package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam"
)

func newDemoCmd() *cobra.Command {
	var keep, serve bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Take a guided tour of Loam in a temporary home",
		Long: `Take a guided tour of Loam: open a node in a new temporary home, create the
space "garden-club", lend tools and chat in it, read, list, delete and watch
keys, and verify the history, printing each step with its results. Then three
more nodes on this machine (on loopback) join a space by tickets and chat,
each message printed on every node as it arrives. It takes a few seconds and
leaves your own Loam home alone. The temporary home is removed at the end
unless --keep is given.

With --serve, three more nodes then serve the web UI, as 'loam daemon'
does, sharing the space "community" with some chat and a tool library; the
demo prints each node's one-time login URL, and the 'loam --home HOME ui'
that makes it a new one, and keeps running until Ctrl-C,
so you can open them in browsers, write on one and watch the others update
live.`,
		Example: `  loam demo
  go run ./cmd/loam demo --keep
  loam demo --serve`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			home, err := os.MkdirTemp("", "loam-demo-")
			if err != nil {
				return fmt.Errorf("create a temporary home: %w", err)
			}
			out := cmd.OutOrStdout()
			defer func() {
				if keep {
					fmt.Fprintf(out, "\nThe demo's home is kept in %s. Look around with:\n  loam --home %s ls garden-club\n", home, home)
					return
				}
				if rerr := os.RemoveAll(home); rerr != nil && err == nil {
					err = fmt.Errorf("remove the temporary home: %w", rerr)
				}
			}()
			if err := runDemo(cmd.Context(), out, filepath.Join(home, "solo")); err != nil {
				return err
			}
			if err := runSyncDemo(cmd.Context(), out, home); err != nil {
				return err
			}
			if err := runPrivateDemo(cmd.Context(), out, home); err != nil {
				return err
			}
			if !serve {
				fmt.Fprintln(out, "\nTo see the web UI of three live nodes, with a chat and a tool library, run")
				fmt.Fprintln(out, "  loam demo --serve")
				return nil
			}
			return runWebDemo(cmd.Context(), out, home)
		},
	}
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the temporary home instead of removing it")
	cmd.Flags().BoolVar(&serve, "serve", false, "then serve the web UI of three nodes until Ctrl-C")
	return cmd
}

// shortKey abbreviates the author ID that ends a key of the apps' layouts
// (…/MS-AUTHOR), for the demo's sentences.
func shortKey(key string) string {
	if i := strings.LastIndex(key, "-aut_"); i >= 0 {
		return key[:i+1] + short(key[i+1:])
	}
	return key
}

// short abbreviates an author ID for the demo's sentences.
func short(author string) string {
	if len(author) > 12 {
		return author[:12] + "…"
	}
	return author
}

func runDemo(ctx context.Context, out io.Writer, home string) (err error) {
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }

	n, err := openHome(ctx, home)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := n.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close the store: %w", cerr)
		}
	}()
	say("Welcome to Loam. This tour runs one node in a temporary home, %s.", home)
	say("The node made itself a device key: everything it writes is signed as %s.", n.Author())

	sp, err := n.CreateSpace(ctx, "garden-club", loam.Public)
	if err != nil {
		return err
	}
	say("\nIt created the space \"garden-club\", a shared key-value database for the")
	say("neighbourhood garden club. Its ID, the same on every member's device, is")
	say("  %s", sp.ID())

	for _, app := range []string{"chat", "tools"} {
		r, _ := loam.BuiltinRules(app)
		if _, err := sp.DeclareRules(ctx, r); err != nil {
			return err
		}
	}
	say("\nAs its admin, the node declared the rules of two apps, the chat and the tool")
	say("library (docs/apps.md): every replica refuses a write that is not one of their")
	say("key layouts, or that names another author. Keys name their author (%s)", short(n.Author()))
	say("and a time in milliseconds, so two neighbours never write the same key.")

	base := time.Now().UnixMilli()
	key := func(prefix string, i int64) string { return fmt.Sprintf("%s%d-%s", prefix, base+i, n.Author()) }
	value := func(v map[string]string) []byte { b, _ := json.Marshal(v); return b }
	say("\nNeighbours list the tools they lend. Each put is one signed commit, on disk")
	say("before the call returns:")
	drill, ladder := key("tools/item/", 0), key("tools/item/", 2)
	tools := []struct {
		key  string
		name string
		desc string
	}{
		{drill, "Cordless drill", "18V, two batteries (lent by Ana)"},
		{key("tools/item/", 1), "Hedge trimmer", "electric, 50 cm blade (lent by Bo)"},
		{ladder, "Ladder", "3 m, aluminium (lent by Chen)"},
		{key("tools/item/", 3), "Wheelbarrow", "85 l, a slow puncture (lent by Dara)"},
	}
	for _, t := range tools {
		v, _ := json.Marshal(struct {
			Name        string `json:"name"`
			Description string `json:"description"`
		}{t.name, t.desc})
		if err := sp.Put(ctx, []byte(t.key), v); err != nil {
			return err
		}
		say("  put %s = %s", shortKey(t.key), v)
	}

	say("\nThe club chats in the same space. Three messages go in one batch: a single")
	say("commit, written all together or not at all:")
	msg := func(i int64) string { return key("chat/msg/general/", 10+i) }
	chat := [][2]string{
		{msg(0), "Ana: who has a ladder I can borrow on Saturday?"},
		{msg(1), "Bo: Chen does, check the tool library"},
		{msg(2), "Chen: it's yours, Ana!"},
	}
	b := sp.Batch()
	for _, c := range chat {
		b.Put([]byte(c[0]), value(map[string]string{"text": c[1]}))
	}
	if err := b.Commit(ctx); err != nil {
		return err
	}
	for _, c := range chat {
		say("  put %s = %s", shortKey(c[0]), value(map[string]string{"text": c[1]}))
	}

	kv, err := sp.Lookup(ctx, []byte(drill))
	if err != nil {
		return err
	}
	say("\nReading %s back gives %s,", shortKey(drill), kv.Value)
	say("written by %s at %s.", short(kv.Author), kv.Time.Local().Format(time.TimeOnly))
	if err := sp.Put(ctx, []byte("tools/drill"), []byte("cordless, 18V")); errors.Is(err, loam.ErrAppRule) {
		say("A put of tools/drill is refused: it is none of the tool library's layouts.")
	} else {
		return fmt.Errorf("demo: a put of tools/drill under the tool library's rules: %v, want refused", err)
	}

	listTools := func() (int, error) {
		count := 0
		for kv, err := range sp.Range(ctx, loam.Prefix("tools/item/")) {
			if err != nil {
				return 0, err
			}
			var t struct{ Name, Description string }
			_ = json.Unmarshal(kv.Value, &t)
			say("  %-15s %s", t.Name, t.Description)
			count++
		}
		return count, nil
	}
	say("\nA range over the prefix \"tools/item/\" lists the tool library in key order:")
	if _, err := listTools(); err != nil {
		return err
	}

	if err := sp.Delete(ctx, []byte(ladder)); err != nil {
		return err
	}
	say("\nChen gave the ladder away for good, so its key is deleted (a signed")
	say("tombstone, so the delete reaches every replica). The library now holds:")
	count, err := listTools()
	if err != nil {
		return err
	}
	say("That is %s.", plural(count, "tool"))

	say("\nNow a watch on \"chat/\" while a message arrives and another is removed:")
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	changes, err := sp.Watch(wctx, loam.Prefix("chat/"))
	if err != nil {
		return err
	}
	if err := sp.Put(ctx, []byte(msg(3)), value(map[string]string{"text": "Ana: thanks Chen, see you Saturday"})); err != nil {
		return err
	}
	if err := sp.Delete(ctx, []byte(msg(1))); err != nil {
		return err
	}
	timeout := time.After(5 * time.Second)
	for range 2 {
		select {
		case c := <-changes:
			if c.Deleted {
				say("  the watch saw: del %s", shortKey(string(c.Key)))
			} else {
				say("  the watch saw: put %s = %s", shortKey(string(c.Key)), c.Value)
			}
		case <-timeout:
			return errors.New("demo: the watch saw no change within 5 seconds")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	cancel()

	r, err := sp.Verify(ctx)
	if err != nil {
		return err
	}
	say("\nEvery commit is re-checked: signature, hash chain, order, and the author's")
	say("grant from the space key (the space key signed the first commit, which made")
	say("this device the space's admin):")
	say("  %s", verifiedLine(r))

	st, err := sp.State(ctx)
	if err != nil {
		return err
	}
	say("\nThe space now holds %s. Its view hash is", plural(int(st.Keys), "key"))
	say("  %s", st.Hash)
	say("and any replica with the same keys and values has the same hash.")

	say("\nThat was one node. To keep a space of your own:")
	say("  loam init")
	say("  loam space create garden-club")
	say("  loam space rules garden-club --app chat,tools,profile,board,energy")
	say("  loam put garden-club tools/item/$(date +%%s)000-$(loam init --json | jq -r .author) '{\"name\":\"Cordless drill\"}'")
	return nil
}
