package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam/internal/api"
)

func newUICmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "ui",
		Short: "Print a one-time login URL for the web UI",
		Long: `Print a new one-time login URL for the daemon's web UI. Open it in a
browser on this device: it logs the browser in (a session cookie, valid
for 7 days or until the daemon stops) and shows the dashboard, the space
browser and the apps. The URL works once, within 15 minutes. 'loam daemon'
prints one when it starts; this command makes another. It needs the
daemon ('loam daemon').`,
		Example: `  loam ui
  xdg-open "$(loam ui)"`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, u, err := askDaemon(cmd, g, (*api.Client).LoginURL)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), u.URL)
			return nil
		},
	}
}
