package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam"
)

func newImportCmd(g *globalOptions) *cobra.Command {
	var (
		batch   int
		jsonOut bool
	)
	cmd := &cobra.Command{
		Use:   "import SPACE",
		Short: "Write keys and values from JSON Lines on stdin",
		Long: `Read JSON Lines from stdin, one object per line, and write each into SPACE:
  {"key": "...", "value": "..."}
with "key_b64" and "value_b64" (standard base64) for bytes that are not UTF-8
text: exactly one of key and key_b64, exactly one of value and value_b64,
and no other fields. Blank lines are skipped. This is the format of
'loam export'.

Lines are written in commits of --batch lines (fewer when their values are
large). Each batch is checked whole before it is written: at a bad line,
import stops, writes nothing of that batch, and says which lines were
imported. A summary goes to stderr (and, with --json, to stdout).`,
		Example: `  loam import garden-club < garden-club.jsonl
  loam export garden-club | loam import garden-club-copy
  echo '{"key": "tools/saw", "value": "hand saw"}' | loam import garden-club`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if batch < 1 || batch > loam.MaxBatchOps {
				return usageErrorf(cmd, "--batch must be between 1 and %d, not %d", loam.MaxBatchOps, batch)
			}
			// The space is resolved first: an unknown one is not a bad line.
			return withSpace(cmd, g, args[0], func(_ *loam.Node, sp *loam.Space) error {
				rep, err := sp.Import(ctx, cmd.InOrStdin(), loam.ImportOptions{Batch: batch})
				if err != nil {
					if ctx.Err() != nil && errors.Is(err, context.Canceled) {
						return &interruptedError{msg: err.Error(), err: err}
					}
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "imported %s in %s\n", plural(rep.Keys, "key"), plural(rep.Commits, "commit"))
				if jsonOut {
					return writeJSON(cmd.OutOrStdout(), struct {
						Keys    int `json:"keys"`
						Commits int `json:"commits"`
					}{rep.Keys, rep.Commits})
				}
				return nil
			})
		},
	}
	cmd.Flags().IntVar(&batch, "batch", 1000, "write at most `N` lines per commit")
	cmd.Flags().BoolVar(&jsonOut, "json", false, `also print {"keys", "commits"} as JSON on stdout`)
	return cmd
}
