package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam"
	"github.com/loamdb/loam/internal/api"
)

func newSpaceCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "space",
		Short: "Create, list and leave spaces",
		Long: `Create, list and leave the spaces held in the Loam home. A space is one shared
key-value database, identified by its ID (spc_…) and, on this device, by a
local name.`,
		Example: `  loam space create garden-club
  loam space ls`,
		Args: noSubcommand,
		RunE: showHelp,
	}
	cmd.AddCommand(newSpaceCreateCmd(g), newSpaceLsCmd(g), newSpaceExportSecretCmd(g), newSpaceImportSecretCmd(g), newSpaceArchiveCmd(g), newSpaceRestoreCmd(g), newSpaceLeaveCmd(g), newSpaceRetentionCmd(g), newSpaceRulesCmd(g))
	cmd.AddCommand(newSpaceCheckpointCmd(g)) // cmd_space_checkpoint.go
	cmd.AddCommand(newSpaceHistoryCmd(g))    // cmd_space_history.go
	return cmd
}

func newSpaceCreateCmd(g *globalOptions) *cobra.Command {
	var private, jsonOut bool
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a space and print its ID",
		Long: `Create a space with a new space key, with this device as its admin, and print
its ID on stdout. NAME is the local name: 1 to 64 letters, digits, '-', '_'
and '.'.

With --private, the keys and values written are sealed (XChaCha20-Poly1305)
under a read key only members hold: it travels in the tickets of read, write
and admin invites, and is kept in HOME/spaces/<space>.readkeys (back it up
with the space secret). Seeders ('loam seed') store and serve the space
without reading it. Blobs (values over 64 KiB, 'put -f FILE') are sealed
too, one 1 MiB frame at a time, before they are stored or sent.`,
		Example: `  loam space create garden-club
  id=$(loam space create garden-club) && echo "$id"
  loam space create garden-club --json
  loam space create family --private`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			vis := loam.Public
			if private {
				vis = loam.Private
			}
			return withNode(cmd, g, func(n *loam.Node) error {
				s, err := n.CreateSpace(ctx, args[0], vis)
				if err != nil {
					return err
				}
				sp := s.Info()
				created := struct {
					ID   string `json:"id"`
					Name string `json:"name"`
				}{sp.ID, sp.Name}
				return printResult(cmd, jsonOut, created, func(w io.Writer) error {
					_, err := fmt.Fprintln(w, sp.ID)
					return err
				})
			})
		},
	}
	cmd.Flags().BoolVar(&private, "private", false, "create a private space: keys and values readable only by members")
	cmd.Flags().BoolVar(&jsonOut, "json", false, `print {"id", "name"} as JSON`)
	return cmd
}

func newSpaceLsCmd(g *globalOptions) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the spaces held here",
		Long: `List the spaces held in the Loam home, by name: NAME, ID and CREATED (local
time). With --json, an array of {"id", "name", "created"} (RFC 3339, UTC).`,
		Example: `  loam space ls
  loam space ls --json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			spaces, err := askNode(cmd, g, (*loam.Node).Spaces)
			if err != nil {
				return err
			}
			asAPI := func(s loam.SpaceInfo) any {
				return api.SpaceInfo{ID: s.ID, Name: s.Name, Created: api.FormatTime(s.Created)}
			}
			return printList(cmd, jsonOut, spaces, asAPI, "no spaces yet: create one with 'loam space create NAME'", func(out io.Writer) error {
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tID\tCREATED")
				for _, s := range spaces {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, s.ID, s.Created.Local().Format(time.DateTime))
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the spaces as a JSON array")
	return cmd
}
