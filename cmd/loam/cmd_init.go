package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"
)

func newInitCmd(g *globalOptions) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create the device key and store in the Loam home",
		Long: `Create the device key and the store in the Loam home (--home, $LOAM_HOME, or
~/.loam), and print the home and this device's author ID. Running it again
changes nothing and says the home already exists.`,
		Example: `  loam init
  LOAM_HOME=/srv/loam loam init --json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			home, err := filepath.Abs(g.homeDir())
			if err != nil {
				return err
			}
			existed, err := homeExists(home)
			if err != nil {
				return err
			}
			n, err := openHome(ctx, home)
			if err != nil {
				return err
			}
			author := n.Author()
			if err := n.Close(); err != nil {
				return fmt.Errorf("close the store: %w", err)
			}
			out := cmd.OutOrStdout()
			if jsonOut {
				return writeJSON(out, struct {
					Home    string `json:"home"`
					Author  string `json:"author"`
					Created bool   `json:"created"`
				}{home, author, !existed})
			}
			if existed {
				fmt.Fprintf(out, "Loam home %s already exists; nothing changed\n", home)
			} else {
				fmt.Fprintf(out, "created the Loam home %s\n", home)
			}
			fmt.Fprintf(out, "device author ID: %s\n", author)
			return nil
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, `print {"home", "author", "created"} as JSON`)
	return cmd
}
