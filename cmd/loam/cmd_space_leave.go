package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam"
)

// errLeaveUnconfirmed: 'loam space leave' without --yes and without a
// terminal to ask on.
var errLeaveUnconfirmed = errors.New("leaving a space deletes its data from this home, and there is no terminal to ask on: pass --yes to leave it")

func newSpaceLeaveCmd(g *globalOptions) *cobra.Command {
	var yes, jsonOut bool
	cmd := &cobra.Command{
		Use:   "leave SPACE",
		Short: "Remove a space and its data from this home",
		Long: `Remove a space from this home: its commits, values and every other row of
it, the blobs no other space held here references (pinned blobs stay), its
read keys, invite keys and secret key, and its peers in the peer book. The
daemon stops syncing it and stops announcing it on the DHT (announcements
already made expire within two days). Other members keep their copies; you
can join the space again later with a new invite.

First it says what will be lost: the space's size here, whether this home
is the only one known to hold it or this device its only admin, and how many
of your own writes no other node is known to hold yet (they are lost with
it: run the daemon until it has synced with a peer first). Then it asks on
the terminal; --yes skips the question, for scripts. Without a terminal and
without --yes it refuses.

If this device holds an identity, the space is marked left in your person's
directory, so your other devices, which keep it, do not bring it back here.
Your person's own space ("me") cannot be left.`,
		Example: `  loam space leave garden-club
  loam space leave spc_… --yes --json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return withNode(cmd, g, func(n *loam.Node) error {
				if !yes {
					plan, err := n.PlanLeave(ctx, args[0]) // an unknown space is said first
					if err != nil {
						return err
					}
					if !isTerminal(cmd.InOrStdin()) {
						return errLeaveUnconfirmed
					}
					if _, err := io.WriteString(cmd.ErrOrStderr(), leaveQuestion(plan)); err != nil {
						return err
					}
					ok, err := confirm(cmd, fmt.Sprintf("Leave %q and delete its data here? [y/N] ", plan.Name), "nothing removed")
					if !ok {
						return err
					}
				}
				rep, err := n.Leave(ctx, args[0])
				if err != nil {
					return err
				}
				return printResult(cmd, jsonOut, rep, func(w io.Writer) error {
					_, err := fmt.Fprintf(w, "left %q (%s): %s (%s) removed, %s of blobs freed\n",
						rep.Name, rep.Space, plural(rep.Commits, "commit"), byteSize(uint64(rep.CommitBytes)), byteSize(uint64(rep.Freed)))
					return err
				})
			})
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask first")
	cmd.Flags().BoolVar(&jsonOut, "json", false, `print what was removed as JSON: {"space", "name", "commits", "commit_bytes", "blobs", "blob_bytes", …, "unsynced", "freed"}`)
	return cmd
}

// leaveQuestion says what leaving the space of plan loses.
func leaveQuestion(p loam.LeavePlan) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Leaving %q (%s) deletes from this home:\n", p.Name, p.Space)
	fmt.Fprintf(&b, "  %s (%s)\n", plural(p.Commits, "commit"), byteSize(uint64(p.CommitBytes)))
	if p.Blobs > 0 {
		fmt.Fprintf(&b, "  %s (%s) that no other space here references\n", plural(p.Blobs, "blob"), byteSize(uint64(p.BlobBytes)))
	}
	if p.Secret {
		fmt.Fprintf(&b, "  its secret key (to keep it: loam space export-secret %s > %s.spcsec)\n", p.Name, p.Name)
	}
	if k := p.SharedBlobs + p.PinnedBlobs; k > 0 {
		fmt.Fprintf(&b, "%s stay: other spaces reference them or they are pinned.\n", plural(k, "blob"))
	}
	if p.OtherHolders == 0 {
		b.WriteString("No other device is known to hold this space: its data will be lost for good.\n")
	} else {
		fmt.Fprintf(&b, "%s known to hold it keep their copies.\n", plural(p.OtherHolders, "other device"))
	}
	if p.OnlyAdmin {
		b.WriteString("This device is its only known admin: nobody will be able to invite or revoke members.\n")
	}
	if p.Unsynced > 0 {
		fmt.Fprintf(&b, "Your own writes not yet synced to any peer will be lost: %s of this device that no other node is known to hold.\n", plural(int(p.Unsynced), "commit"))
	}
	return b.String()
}
