package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam"
)

func newLogCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "log",
		Short: "Check a space's history",
		Long: `Work with the history of a space: the signed, hash-chained commits its view
is made of.`,
		Example: `  loam log verify garden-club`,
		Args:    noSubcommand,
		RunE:    showHelp,
	}
	cmd.AddCommand(newLogVerifyCmd(g))
	return cmd
}

func newLogVerifyCmd(g *globalOptions) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "verify SPACE",
		Short: "Re-verify every commit of a space",
		Long: `Re-check every stored commit of SPACE: its signature, its hash chain, its
sequence number and time, and that its author had a grant. On success, print
how many commits, ops, authors and forks were verified, and exit 0. On
failure, print the first bad commit and exit 1.`,
		Example: `  loam log verify garden-club
  loam log verify spc_… --json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := askSpace(cmd, g, args[0], (*loam.Space).Verify)
			if err != nil {
				return err
			}
			counts := struct {
				Commits int `json:"commits"`
				Ops     int `json:"ops"`
				Authors int `json:"authors"`
				Forks   int `json:"forks"`
			}{r.Commits, r.Ops, r.Authors, r.Forks}
			return printResult(cmd, jsonOut, counts, func(w io.Writer) error {
				_, err := fmt.Fprintln(w, verifiedLine(r))
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, `print {"commits", "ops", "authors", "forks"} as JSON`)
	return cmd
}
