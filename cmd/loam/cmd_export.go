package main

import (
	"github.com/spf13/cobra"

	"github.com/loamdb/loam"
)

func newExportCmd(g *globalOptions) *cobra.Command {
	var prefix string
	cmd := &cobra.Command{
		Use:   "export SPACE",
		Short: "Write a space's keys and values as JSON Lines",
		Long: `Write the keys and values of SPACE (under --prefix) to stdout as JSON Lines,
in key order, one object per line: {"key": "...", "value": "..."}. A key or
value that is not UTF-8 text is written in base64 as "key_b64" or
"value_b64" instead. A key that holds a blob is written with
"blob": {"id", "size", "type"} instead of a value: the reference, not the
blob's bytes. 'loam import' reads the same format, so export | import
copies a space's current keys exactly (not its history; the blobs come
from the peers that hold them).`,
		Example: `  loam export garden-club > garden-club.jsonl
  loam export garden-club --prefix tools/ | loam import tool-library`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var q []loam.RangeOption
			if cmd.Flags().Changed("prefix") {
				q = append(q, loam.Prefix(prefix))
			}
			return withSpace(cmd, g, args[0], func(_ *loam.Node, sp *loam.Space) error {
				j := newJSONWriter(cmd.OutOrStdout())
				for kv, err := range sp.Range(ctx, q...) {
					if err != nil {
						return err
					}
					if err := j.Write(entryOf(kv).Record); err != nil {
						return err
					}
				}
				return j.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&prefix, "prefix", "", "export only the keys starting with `P`")
	return cmd
}
