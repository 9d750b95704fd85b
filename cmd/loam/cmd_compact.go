package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam"
)

func newCompactCmd(g *globalOptions) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "compact [SPACE]",
		Short: "Free the disk space of deleted and overwritten rows now",
		Long: `Compact the store: rewrite the rows of SPACE (a name or ID), or of every
space without one, so that rows deleted, overwritten or erased there free
their disk space now rather than when the store gets to them by itself.
Prints what the home takes on disk before and after. Reads and writes go
on meanwhile. It works through the daemon if one runs, else on the store.

With --json, print {"before": DISK, "after": DISK}, each DISK as in
'loam status --json' under "disk".`,
		Example: `  loam compact
  loam compact garden`,
		Args: argsBetween(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref := ""
			if len(args) == 1 {
				ref = args[0]
			}
			return withNode(cmd, g, func(n *loam.Node) error {
				errOut := cmd.ErrOrStderr()
				var last time.Time
				progress := func(done, total int) {
					// Once a second at most, and at the end of long work.
					if jsonOut || time.Since(last) < time.Second && (done < total || last.IsZero()) {
						if last.IsZero() {
							last = time.Now()
						}
						return
					}
					last = time.Now()
					fmt.Fprintf(errOut, "compacting: %d of %d key ranges done\n", done, total)
				}
				before, after, err := n.Compact(cmd.Context(), ref, progress)
				if err != nil {
					return err
				}
				return printResult(cmd, jsonOut, map[string]loam.DiskUsage{"before": before, "after": after}, func(out io.Writer) error {
					var b strings.Builder
					fmt.Fprintf(&b, "before  %s\nafter   %s\n", diskLine(before), diskLine(after))
					for _, sp := range after.Spaces {
						if ref != "" && sp.Name != ref && sp.ID != ref {
							continue
						}
						writeSpaceBytes(&b, sp)
					}
					_, err := io.WriteString(out, b.String())
					return err
				})
			})
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the usage before and after as JSON")
	return cmd
}

// diskLine sums up what a home takes on disk on one line.
func diskLine(u loam.DiskUsage) string {
	return fmt.Sprintf("%s on disk: store %s (tables %s, logs %s, reserve %s), blobs %s",
		humanBytes(u.Total), humanBytes(u.Store), humanBytes(u.Tables), humanBytes(u.WAL), humanBytes(u.Reserve), humanBytes(u.Blobs))
}

// writeSpaceBytes writes what space sp takes on disk on one line.
func writeSpaceBytes(b *strings.Builder, sp loam.SpaceBytes) {
	fmt.Fprintf(b, "%s  live %s, history %s, blobs %s\n", sp.Name, humanBytes(sp.Live), humanBytes(sp.History), humanBytes(sp.Blobs))
}
