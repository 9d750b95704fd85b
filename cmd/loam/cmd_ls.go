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

// options returns the range options for the flags set on cmd.
func (f *rangeFlags) options(cmd *cobra.Command) ([]loam.RangeOption, error) {
	var opts []loam.RangeOption
	fl := cmd.Flags()
	if fl.Changed("prefix") {
		opts = append(opts, loam.Prefix(f.prefix))
	}
	if fl.Changed("start") {
		opts = append(opts, loam.Start(f.start))
	}
	if fl.Changed("end") {
		opts = append(opts, loam.End(f.end))
	}
	if fl.Changed("limit") {
		if f.limit < 1 {
			return nil, usageErrorf(cmd, "--limit must be at least 1, not %d", f.limit)
		}
		opts = append(opts, loam.Limit(f.limit))
	}
	if f.reverse {
		opts = append(opts, loam.Reverse())
	}
	return opts, nil
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
			opts, err := rf.options(cmd)
			if err != nil {
				return err
			}
			return withSpace(ctx, g, args[0], func(sp *loam.Space) error {
				if jsonOut {
					a := newJSONArray(cmd.OutOrStdout())
					for kv, err := range sp.Range(ctx, opts...) {
						if err != nil {
							return err
						}
						if err := a.Add(newEntry(kv)); err != nil {
							return err
						}
					}
					return a.Close()
				}
				w := bufio.NewWriter(cmd.OutOrStdout())
				for kv, err := range sp.Range(ctx, opts...) {
					if err != nil {
						return err
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
