package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam"
	"github.com/loamdb/loam/internal/api"
)

func newSpaceRetentionCmd(g *globalOptions) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "retention SPACE [keep-history|live-only|DURATION]",
		Short: "Show or set how long replicas keep old values",
		Long: `Show SPACE's retention policy, or set it (admins of the whole space): how long
every replica keeps the values of writes that a later write replaced or a
delete removed.

  keep-history   keep them all (the default)
  live-only      keep none: each replica drops them from its disk
  DURATION       keep those younger than DURATION (30d, 720h, 90m; at least 1m)

Live values are always kept, and the history still verifies: a dropped value
keeps its digest. Each replica applies the policy by itself, a daemon at once
when it receives it and every 10 minutes after. A seeder that cannot read a
private space keeps the old values (it cannot tell which are old).`,
		Example: `  loam space retention garden-club
  loam space retention garden-club live-only
  loam space retention garden-club 30d --json`,
		Args: argsBetween(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var set *loam.Retention
			if len(args) == 2 {
				r := loam.Retention{Mode: loam.RetentionMode(args[1])}
				if r.Mode != loam.KeepHistory && r.Mode != loam.LiveOnly {
					d, err := parseDuration(args[1])
					if err != nil {
						return fmt.Errorf("retention %q: want keep-history, live-only or a duration (%v)", args[1], err)
					}
					r = loam.Retention{Mode: loam.RetainFor, After: d}
				}
				set = &r
			}
			return withSpace(cmd, g, args[0], func(_ *loam.Node, sp *loam.Space) error {
				if set != nil {
					if err := sp.SetRetention(ctx, *set); err != nil {
						return err
					}
				}
				r, err := sp.Retention(ctx)
				if err != nil {
					return err
				}
				if jsonOut {
					b := api.RetentionBody{Mode: string(r.Mode)}
					if r.Mode == loam.RetainFor {
						b.After = r.After.String()
					}
					return writeJSON(cmd.OutOrStdout(), b)
				}
				switch r.Mode {
				case loam.LiveOnly:
					fmt.Fprintf(cmd.OutOrStdout(), "%s: live-only (replicas keep no replaced or deleted values)\n", sp.Name())
				case loam.RetainFor:
					fmt.Fprintf(cmd.OutOrStdout(), "%s: replaced and deleted values are kept %s\n", sp.Name(), r.After)
				default:
					fmt.Fprintf(cmd.OutOrStdout(), "%s: keep-history (replicas keep every value ever written)\n", sp.Name())
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, `print {"mode", "after"} as JSON`)
	return cmd
}
