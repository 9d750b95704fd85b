package main

import (
	"github.com/spf13/cobra"
)

func newGetCmd(g *globalOptions) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "get SPACE KEY",
		Short: "Print the value of a key",
		Long: `Print the value of KEY in SPACE: its bytes exactly, with no newline added.
With --json, print {"key", "value", "author", "time"}, with "value_b64"
(base64) instead of "value" when the value is not UTF-8 text.`,
		Example: `  loam get garden-club tools/drill
  loam get garden-club tools/drill/photo > drill.jpg
  loam get garden-club tools/drill --json`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			key := []byte(args[1])
			if err := checkKey(key); err != nil {
				return err
			}
			return withBackend(cmd, g, func(b backend) error {
				kv, err := b.Lookup(ctx, args[0], key)
				if err != nil {
					return notFound(err, args[0], key)
				}
				if jsonOut {
					return writeJSON(cmd.OutOrStdout(), entryOf(kv))
				}
				_, err = cmd.OutOrStdout().Write(kv.Value)
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the key, value, author and time as JSON")
	return cmd
}
