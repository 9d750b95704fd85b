package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
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

	say("\nNeighbours list the tools they lend. Each put is one signed commit, on disk")
	say("before the call returns:")
	tools := [][2]string{
		{"tools/drill", "cordless drill, 18V, two batteries (lent by Ana)"},
		{"tools/hedge-trimmer", "electric, 50 cm blade (lent by Bo)"},
		{"tools/ladder", "3 m, aluminium (lent by Chen)"},
		{"tools/wheelbarrow", "85 l, a slow puncture (lent by Dara)"},
	}
	for _, t := range tools {
		if err := sp.Put(ctx, []byte(t[0]), []byte(t[1])); err != nil {
			return err
		}
		say("  put %s = %q", t[0], t[1])
	}

	say("\nThe club chats in the same space. Three messages go in one batch: a single")
	say("commit, written all together or not at all:")
	chat := [][2]string{
		{"chat/general/0001", "Ana: who has a ladder I can borrow on Saturday?"},
		{"chat/general/0002", "Bo: Chen does, check the tool library"},
		{"chat/general/0003", "Chen: it's yours, Ana!"},
	}
	b := sp.Batch()
	for _, c := range chat {
		b.Put([]byte(c[0]), []byte(c[1]))
	}
	if err := b.Commit(ctx); err != nil {
		return err
	}
	for _, c := range chat {
		say("  put %s = %q", c[0], c[1])
	}

	kv, err := sp.Lookup(ctx, []byte("tools/drill"))
	if err != nil {
		return err
	}
	say("\nReading tools/drill back gives %q,", kv.Value)
	say("written by %s at %s.", short(kv.Author), kv.Time.Local().Format(time.TimeOnly))

	listTools := func() (int, error) {
		count := 0
		for kv, err := range sp.Range(ctx, loam.Prefix("tools/")) {
			if err != nil {
				return 0, err
			}
			say("  %-20s %s", kv.Key, kv.Value)
			count++
		}
		return count, nil
	}
	say("\nA range over the prefix \"tools/\" lists the tool library in key order:")
	if _, err := listTools(); err != nil {
		return err
	}

	if err := sp.Delete(ctx, []byte("tools/ladder")); err != nil {
		return err
	}
	say("\nChen gave the ladder away for good, so tools/ladder is deleted (a signed")
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
	if err := sp.Put(ctx, []byte("chat/general/0004"), []byte("Ana: thanks Chen, see you Saturday")); err != nil {
		return err
	}
	if err := sp.Delete(ctx, []byte("chat/general/0002")); err != nil {
		return err
	}
	timeout := time.After(5 * time.Second)
	for range 2 {
		select {
		case c := <-changes:
			if c.Deleted {
				say("  the watch saw: del %s", c.Key)
			} else {
				say("  the watch saw: put %s = %q", c.Key, c.Value)
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
	say("  loam put garden-club tools/drill 'cordless, 18V'")
	return nil
}
