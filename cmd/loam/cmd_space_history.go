package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam"
	"github.com/loamdb/loam/internal/api"
)

func newSpaceHistoryCmd(g *globalOptions) *cobra.Command {
	var fetch, jsonOut bool
	cmd := &cobra.Command{
		Use:   "history SPACE",
		Short: "Say whether this node holds a space's whole history, or fetch it",
		Long: `Say whether this node holds the whole history of SPACE, or joined it from a
checkpoint (loam space checkpoint) and skipped the history below it: which
checkpoint, and how many commits below it are not held.

A node that joined from a checkpoint fetches that history by itself when a
revocation made after the checkpoint needs it. --fetch fetches it now, from
connected peers that hold it, and waits until it is held: the node is then a
full replica of the space. A peer that joined from a checkpoint itself
cannot send it.`,
		Example: `  loam space history garden-club
  loam space history garden-club --fetch`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withSpace(cmd, g, args[0], func(_ *loam.Node, sp *loam.Space) error {
				get := sp.History
				if fetch {
					get = sp.FetchHistory
				}
				h, err := get(cmd.Context())
				if err != nil {
					return err
				}
				return printResult(cmd, jsonOut, api.HistoryResponse(h), func(w io.Writer) error {
					var err error
					switch {
					case h.Checkpoint == "":
						_, err = fmt.Fprintf(w, "%s: the whole history is held here\n", sp.Name())
					case h.Fetching:
						_, err = fmt.Fprintf(w, "%s: joined from checkpoint %s; %d commits below it not held yet, fetching them\n", sp.Name(), h.Checkpoint, h.Missing)
					default:
						_, err = fmt.Fprintf(w, "%s: joined from checkpoint %s; %d commits below it not held (fetch them with --fetch)\n", sp.Name(), h.Checkpoint, h.Missing)
					}
					return err
				})
			})
		},
	}
	cmd.Flags().BoolVar(&fetch, "fetch", false, "fetch the history below the checkpoint from peers, and wait until it is held")
	cmd.Flags().BoolVar(&jsonOut, "json", false, `print {"checkpoint", "missing", "needs_history", "fetching"} as JSON`)
	return cmd
}
