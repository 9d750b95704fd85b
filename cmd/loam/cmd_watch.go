package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam"
)

func newWatchCmd(g *globalOptions) *cobra.Command {
	var (
		prefix  string
		jsonOut bool
	)
	cmd := &cobra.Command{
		Use:   "watch SPACE",
		Short: "Stream changes to a space until interrupted",
		Long: `Stream the changes to the keys of SPACE (under --prefix) as they are applied,
one line each, until Ctrl-C (SIGINT) or SIGTERM: "put KEY VALUE" or
"del KEY", values shown as by 'loam ls'. With --json, one JSON object per
line: {"op": "put" or "del", "key", "value" or "value_b64", "author", "time"}.

Until the daemon exists, watch shows only the writes made by this process's
own node, which has the home open: other loam processes cannot open the
same home at the same time, so their writes fail with "in use" rather than
showing up here. Use the Go API's Space.Watch in the process that writes.`,
		Example: `  loam watch garden-club --prefix chat/
  loam watch garden-club --json | jq .key`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return withSpace(ctx, g, args[0], func(sp *loam.Space) error {
				changes := sp.Watch(ctx, loam.Prefix(prefix))
				fmt.Fprintf(cmd.ErrOrStderr(), "watching %s for changes (Ctrl-C to stop)\n", args[0])
				out := cmd.OutOrStdout()
				for c := range changes {
					var err error
					switch {
					case jsonOut:
						e := newEntry(loam.KV{Key: c.Key, Value: c.Value, Author: c.Author, Time: c.Time})
						e.Op = "put"
						if c.Deleted {
							e.Op, e.Value, e.ValueB64 = "del", nil, nil
						}
						err = writeJSON(out, e)
					case c.Deleted:
						_, err = fmt.Fprintf(out, "del %s\n", showKey(c.Key))
					default:
						_, err = fmt.Fprintf(out, "put %s %s\n", showKey(c.Key), showValue(c.Value))
					}
					if err != nil {
						return err
					}
				}
				return nil // interrupted: the normal way to stop
			})
		},
	}
	cmd.Flags().StringVar(&prefix, "prefix", "", "watch only the keys starting with `P`")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print one JSON object per change")
	return cmd
}
