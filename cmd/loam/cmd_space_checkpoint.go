package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam"
	"github.com/loamdb/loam/internal/api"
)

func newSpaceCheckpointCmd(g *globalOptions) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "checkpoint SPACE",
		Short: "Let fresh members skip the space's dead history",
		Long: `Make a checkpoint of SPACE at this node's heads (admins of the whole space):
a signed summary of everything written so far. A member joining later
downloads the summary, the live values and the history after it, instead
of every commit ever written: the values deleted and erased before the
checkpoint cost a fresh member a few dozen bytes each, not their commits.

This node serves the summary to joiners while it runs. Private spaces
cannot be checkpointed yet: their fresh members download the whole
history.`,
		Example: `  loam space checkpoint garden-club
  loam space checkpoint garden-club --json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withSpace(cmd, g, args[0], func(_ *loam.Node, sp *loam.Space) error {
				k, err := sp.Checkpoint(cmd.Context())
				if err != nil {
					return err
				}
				return printResult(cmd, jsonOut, api.CheckpointResponse(k), func(w io.Writer) error {
					_, err := fmt.Fprintf(w, "%s: checkpoint %s of %d commits (%s); a fresh member downloads %s instead (%d commits kept)\n",
						sp.Name(), k.ID, k.Commits, humanBytes(int64(k.Bytes)), humanBytes(int64(k.SnapshotBytes)), k.Kept)
					return err
				})
			})
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, `print {"id", "commits", "bytes", "kept", "snapshot_bytes"} as JSON`)
	return cmd
}
