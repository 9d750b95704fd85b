package main

import (
	"bufio"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam"
)

// rangeFlags select a key range, as ls and export take them.
type rangeFlags struct {
	prefix, start, end string
	limit              int
	reverse            bool
}

// options returns the range options of the flags set on cmd.
func (f *rangeFlags) options(cmd *cobra.Command) ([]loam.RangeOption, error) {
	var q []loam.RangeOption
	fl := cmd.Flags()
	if fl.Changed("prefix") {
		q = append(q, loam.Prefix(f.prefix))
	}
	if fl.Changed("start") {
		q = append(q, loam.Start(f.start))
	}
	if fl.Changed("end") {
		q = append(q, loam.End(f.end))
	}
	if fl.Changed("limit") {
		if f.limit < 1 {
			return nil, usageErrorf(cmd, "--limit must be at least 1, not %d", f.limit)
		}
		q = append(q, loam.Limit(f.limit))
	}
	if f.reverse {
		q = append(q, loam.Reverse())
	}
	return q, nil
}

func newLsCmd(g *globalOptions) *cobra.Command {
	var (
		rf      rangeFlags
		jsonOut bool
	)
	cmd := &cobra.Command{
		Use:   "ls SPACE",
		Short: "List keys and values",
		Long: `List the keys of SPACE in key order, one per line: KEY, a tab, and the value.
Values that are not printable text show as "<N bytes>", and long ones are
cut after 80 characters. With --json, print an array of
{"key", "value", "author", "time"} with whole values ("value_b64" for values
that are not UTF-8 text).

--prefix, --start (inclusive) and --end (exclusive) select keys and combine;
--limit stops after N keys; --reverse lists from the last key.`,
		Example: `  loam ls garden-club
  loam ls garden-club --prefix chat/general/ --reverse --limit 20
  loam ls garden-club --start tools/a --end tools/m --json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			q, err := rf.options(cmd)
			if err != nil {
				return err
			}
			return withSpace(cmd, g, args[0], func(_ *loam.Node, sp *loam.Space) error {
				if jsonOut {
					a := newJSONArray(cmd.OutOrStdout())
					for kv, err := range sp.Range(ctx, q...) {
						if err != nil {
							return err
						}
						if err := a.Add(entryOf(kv)); err != nil {
							return err
						}
					}
					return a.Close()
				}
				w := bufio.NewWriter(cmd.OutOrStdout())
				for kv, err := range sp.Range(ctx, q...) {
					if err != nil {
						return err
					}
					if kv.Erased {
						fmt.Fprintf(w, "%s\t[erased]\n", showKey(kv.Key))
						continue
					}
					if kv.Blob != nil {
						fmt.Fprintf(w, "%s\t[blob %s, %s%s]\n", showKey(kv.Key), kv.Blob.ID, humanBytes(kv.Blob.Size), typeSuffix(kv.Blob.Type))
						continue
					}
					fmt.Fprintf(w, "%s\t%s\n", showKey(kv.Key), showValue(kv.Value))
				}
				return w.Flush()
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&rf.prefix, "prefix", "", "list only the keys starting with `P`")
	f.StringVar(&rf.start, "start", "", "list only the keys ≥ `K`")
	f.StringVar(&rf.end, "end", "", "list only the keys < `K`")
	f.IntVar(&rf.limit, "limit", 0, "stop after `N` keys")
	f.BoolVar(&rf.reverse, "reverse", false, "list from the last key to the first")
	f.BoolVar(&jsonOut, "json", false, "print a JSON array of keys with values, authors and times")
	return cmd
}

// typeSuffix is ", TYPE" for a blob with a media type.
func typeSuffix(t string) string {
	if t == "" {
		return ""
	}
	return ", " + t
}
