package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam"
	"github.com/loamdb/loam/internal/api"
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

A watch that falls behind (its output is not read as fast as changes
arrive) loses the changes it could not keep: it prints "resync" (with
--json, {"op": "resync"}) where they were dropped, and goes on with every
change after that. List the keys again ('loam ls') to catch up.

With a daemon running for the Loam home ('loam daemon'), watch shows every
change the daemon applies: writes by other loam commands and by peers.
Without one, watch holds the home itself, so it sees only its own
process's writes: other loam commands cannot open the home meanwhile and
fail with "in use".`,
		Example: `  loam watch garden-club --prefix chat/
  loam watch garden-club --json | jq .key`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return withSpace(cmd, g, args[0], func(n *loam.Node, sp *loam.Space) error {
				ctx, cancel := context.WithCancel(ctx)
				defer cancel()
				changes, err := sp.Watch(ctx, loam.Prefix(prefix))
				if err != nil {
					return err
				}
				defer func() { // end the watch, and let its goroutine finish
					cancel()
					for range changes {
					}
				}()
				fmt.Fprintf(cmd.ErrOrStderr(), "watching %s for changes (Ctrl-C to stop)\n", args[0])
				out := cmd.OutOrStdout()
				for {
					c, ok := <-changes
					if !ok {
						if ctx.Err() != nil {
							return nil // interrupted: the normal way to stop
						}
						if n.Daemon() {
							return errors.New("the daemon ended the watch (it stopped?): run 'loam watch' again once 'loam daemon' runs")
						}
						return errors.New("the watch ended: the store was closed")
					}
					switch {
					case c.Resync && jsonOut:
						err = writeJSON(out, api.Entry{Op: api.OpResync})
					case c.Resync:
						_, err = fmt.Fprintln(out, "resync")
						fmt.Fprintln(cmd.ErrOrStderr(), "loam: the watch fell behind and changes were dropped: list the keys again ('loam ls') to catch up")
					case jsonOut:
						err = writeJSON(out, api.NewChange(c.Key, c.Value, c.Deleted, c.Author, c.Time))
					case c.Deleted:
						_, err = fmt.Fprintf(out, "del %s\n", showKey(c.Key))
					default:
						_, err = fmt.Fprintf(out, "put %s %s\n", showKey(c.Key), showValue(c.Value))
					}
					if err != nil {
						return err
					}
				}
			})
		},
	}
	cmd.Flags().StringVar(&prefix, "prefix", "", "watch only the keys starting with `P`")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print one JSON object per change")
	return cmd
}
