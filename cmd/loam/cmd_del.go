package main

import (
	"github.com/spf13/cobra"
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
			key := []byte(args[1])
			if err := checkKey(key); err != nil {
				return err
			}
			return withBackend(cmd, g, func(b backend) error {
				return notFound(b.Delete(ctx, args[0], key), args[0], key)
			})
		},
	}
	return cmd
}
