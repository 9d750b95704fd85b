package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam"
)

func newGetCmd(g *globalOptions) *cobra.Command {
	var jsonOut bool
	var out string
	cmd := &cobra.Command{
		Use:   "get SPACE KEY",
		Short: "Print the value of a key",
		Long: `Print the value of KEY in SPACE: its bytes exactly, with no newline added,
to stdout or to FILE (-o). When the key holds a blob, print the blob's bytes,
fetching what is not here yet from peers (through the daemon).

With --json, print {"key", "value", "author", "time"}, with "value_b64"
(base64) instead of "value" when the value is not UTF-8 text, and
"blob": {"id", "size", "type"} instead of a value when the key holds a blob.`,
		Example: `  loam get garden-club shed/drill
  loam get garden-club shed/drill/photo > drill.jpg
  loam get garden-club shed/drill --json`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return withSpaceKey(cmd, g, args, func(sp *loam.Space, key []byte) error {
				kv, err := sp.Lookup(ctx, key)
				if err != nil {
					return notFound(err, args[0], key)
				}
				return printResult(cmd, jsonOut, entryOf(kv), func(w io.Writer) error {
					if kv.Blob != nil {
						if kv.Blob.ID == "" {
							return fmt.Errorf("%q holds a blob reference that does not decode: its writer's software is broken", args[1])
						}
						return writeKeyBlob(cmd, sp, key, out)
					}
					if out != "" {
						return writeFileAtomic(out, kv.Value)
					}
					_, err := w.Write(kv.Value)
					return err
				})
			})
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the key, value, author and time as JSON")
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the value to `FILE` (default: stdout)")
	return cmd
}
