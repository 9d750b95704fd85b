package main

import (
	"github.com/spf13/cobra"

	"github.com/loamdb/loam"
)

func newDelCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "del SPACE KEY",
		Short: "Delete a key",
		Long: `Delete KEY from SPACE, as one signed commit (a tombstone), durable when the
command returns. A key that is not there is an error, and nothing is
written.`,
		Example: `  loam del garden-club tools/ladder`,
		Args:    exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return withSpaceKey(cmd, g, args, func(sp *loam.Space, key []byte) error {
				// Delete writes a tombstone even for a missing key: a key
				// that is not there is an error here, and writes nothing.
				if _, err := sp.Lookup(ctx, key); err != nil {
					return notFound(err, args[0], key)
				}
				return sp.Delete(ctx, key)
			})
		},
	}
	return cmd
}
