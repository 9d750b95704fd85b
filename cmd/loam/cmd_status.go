package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam"
	"github.com/loamdb/loam/internal/api"
)

func newStatusCmd(g *globalOptions) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the daemon's spaces, peers and refusals",
		Long: `Show what the daemon holds and whom it talks to: its peer ID and p2p
addresses; for each space its name, ID, the number of commits held, the
number of visible keys and every author's head (the latest commit it
holds of each author) and the authors that forked (signed two different
commits with one seq: their commits from there on do not count); the
number of connected peers; and how many peers were disconnected for
misbehaving (bad signatures, unauthorized commits, malformed messages…),
by kind. It needs the daemon ('loam daemon').

With --json, print {"peer", "author", "addrs", "spaces": [{"name", "id",
"commits", "heads": [{"author", "seq", "commit", "time"}], "forked":
[{"author", "seq"}], "keys", "view_hash", "bytes": {"live", "history", "blobs"}}], "peers",
"refusals", "blobs": {"bytes_in", "bytes_out", "fetching", "queued"},
"disk": {"store", "tables", "obsolete", "wal", "unflushed", "reserve",
"blobs", "total", "spaces"}}. Two replicas of a space with the same
view_hash have the same keys and values.

Bytes on disk: a space's "live" bytes are its view (the visible values),
"history" its commits (every write, superseded or not), "blobs" the blobs
it references held here (a blob two spaces reference counts in each);
live and history are estimates of the store's tables, without the rows
not yet flushed from the write-ahead log ("unflushed"). loam compact
frees the space of deleted and overwritten rows now. Without a daemon,
status prints only what the store takes on disk (with --json, {"disk":
DISK}) and exits with status 1, saying to start one.`,
		Example: `  loam status
  loam status --json | jq '.spaces[] | {name, commits}'`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, st, err := askDaemon(cmd, g, (*api.Client).Status)
			if err != nil {
				storeDisk(cmd, g, jsonOut) // what the store holds, when no daemon runs
				return err
			}
			return printResult(cmd, jsonOut, st, func(w io.Writer) error {
				_, err := io.WriteString(w, statusText(st))
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the status as JSON")
	return cmd
}

// statusText is the plain output of 'loam status'.
func statusText(st api.Status) string {
	var b strings.Builder
	fmt.Fprintf(&b, "peer     %s\n", st.Peer)
	fmt.Fprintf(&b, "author   %s\n", st.Author)
	for i, a := range st.Addrs {
		label := ""
		if i == 0 {
			label = "address"
		}
		fmt.Fprintf(&b, "%-8s %s\n", label, a)
	}
	fmt.Fprintf(&b, "peers    %d connected\n", st.Peers)
	fmt.Fprintf(&b, "refused  %s\n", refusals(st.Refusals))
	fmt.Fprintf(&b, "blobs    %d fetching, %d queued; %s in, %s out\n", st.Blobs.Fetching, st.Blobs.Queued,
		humanBytes(int64(st.Blobs.BytesIn)), humanBytes(int64(st.Blobs.BytesOut)))
	if d := st.Disk; d != nil {
		fmt.Fprintf(&b, "disk     %s: store %s (tables %s, logs %s, reserve %s), blobs %s\n", humanBytes(d.Total),
			humanBytes(d.Store), humanBytes(d.Tables), humanBytes(d.WAL), humanBytes(d.Reserve), humanBytes(d.Blobs))
	}
	if len(st.Spaces) == 0 {
		b.WriteString("\nno spaces yet: create one with 'loam space create NAME', or join one with 'loam join TICKET'\n")
	}
	for _, sp := range st.Spaces {
		fmt.Fprintf(&b, "\n%s  %s\n", sp.Name, sp.ID)
		fmt.Fprintf(&b, "  %s by %s, %s; view hash %s\n",
			plural(int(sp.Commits), "commit"), plural(len(sp.Heads), "author"), plural(int(sp.Keys), "key"), shortHash(sp.ViewHash))
		fmt.Fprintf(&b, "  disk: live %s, history %s, blobs %s\n", humanBytes(sp.Bytes.Live), humanBytes(sp.Bytes.History), humanBytes(sp.Bytes.Blobs))
		switch {
		case sp.Peers == 0:
			b.WriteString("  sync: no connected peer shares it\n")
		case sp.InSync == sp.Peers:
			fmt.Fprintf(&b, "  sync: in sync with %s\n", plural(sp.Peers, "peer"))
		default:
			fmt.Fprintf(&b, "  sync: in sync with %d of %s (catching up)\n", sp.InSync, plural(sp.Peers, "peer"))
		}
		for _, h := range sp.Heads {
			fmt.Fprintf(&b, "  %s  seq %-8d %s\n", h.Author, h.Seq, headTime(h))
		}
		for _, f := range sp.Forked {
			fmt.Fprintf(&b, "  forked: %s signed two different commits with seq %d: its commits from seq %d on do not count (a device key used on two devices, or stolen, does this: that member should join again from each device with its own key)\n", f.Author, f.Seq, f.Seq)
		}
		for _, w := range sp.Warnings {
			fmt.Fprintf(&b, "  warning: %s\n", w)
		}
	}
	return b.String()
}

// refusals returns the refusal counters on one line, "none" if all are 0.
func refusals(m map[string]uint64) string {
	var kinds []string
	for k, n := range m {
		if n > 0 {
			kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
		}
	}
	if len(kinds) == 0 {
		return "none"
	}
	slices.Sort(kinds)
	return strings.Join(kinds, ", ")
}

func shortHash(h string) string {
	if len(h) > 16 {
		return h[:16] + "…"
	}
	return h
}

func headTime(h api.Head) string {
	t, err := api.ParseTime(h.Time)
	if err != nil || t.IsZero() {
		return ""
	}
	return t.Local().Format(time.DateTime)
}

// askDaemon asks the daemon that runs for the home one question (ask, a
// method of api.Client such as (*api.Client).Status) and returns its
// client with the answer, or an error saying to start a daemon.
func askDaemon[T any](cmd *cobra.Command, g *globalOptions, ask func(*api.Client, context.Context) (T, error)) (*api.Client, T, error) {
	ctx := cmd.Context()
	c, err := daemonClient(ctx, g)
	if err != nil {
		var zero T
		return nil, zero, err
	}
	v, err := ask(c, ctx)
	return c, v, err
}

// storeDisk prints what the home's store takes on disk, opened in this
// process, when no daemon answers for the home (and nothing if one does,
// or if the store cannot be opened: the caller reports why).
func storeDisk(cmd *cobra.Command, g *globalOptions, jsonOut bool) {
	ctx := cmd.Context()
	if c, err := loam.Connect(ctx, g.homeDir()); err == nil || !errors.Is(err, loam.ErrNoDaemon) {
		if err == nil {
			c.Close()
		}
		return
	}
	n, err := openNode(ctx, g)
	if err != nil {
		return
	}
	defer n.Close()
	u, err := n.DiskUsage(ctx)
	if err != nil {
		return
	}
	printResult(cmd, jsonOut, map[string]loam.DiskUsage{"disk": u}, func(out io.Writer) error {
		var b strings.Builder
		fmt.Fprintf(&b, "no daemon runs: what the store takes on disk (peers and sync need 'loam daemon')\ndisk     %s\n", diskLine(u))
		for _, sp := range u.Spaces {
			fmt.Fprintf(&b, "\n%s  %s\n  disk: live %s, history %s, blobs %s\n", sp.Name, sp.ID, humanBytes(sp.Live), humanBytes(sp.History), humanBytes(sp.Blobs))
		}
		_, err := io.WriteString(out, b.String())
		return err
	})
}
