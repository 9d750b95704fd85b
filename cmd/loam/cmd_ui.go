package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam/internal/api"
)

func newUICmd(g *globalOptions) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "ui",
		Short: "Print a one-time login URL for the web UI",
		Long: `Print a new one-time login URL for the daemon's web UI. Open it in a
browser on this device: it logs the browser in (a session cookie
that survives daemon restarts, until revoked with 'loam sessions revoke'
or unused for 90 days) and shows the dashboard, the space browser and the
apps. The URL works once, within 15 minutes. 'loam daemon' prints one when
it starts; this command makes another. It needs the daemon ('loam
daemon').

With --json it prints {"url", "expires"} and, when the daemon serves
phones (--ui-listen), "ui_listen" (its URLs) and "spki_sha256": the
base64 SHA-256 of its certificate's public key, as chromium's
--ignore-certificate-errors-spki-list takes it, and "ca_sha256": the
SHA-256 of the node's certificate authority, which a phone installs (from
the pair page) to trust the node.`,
		Example: `  loam ui
  xdg-open "$(loam ui)"
  loam ui --json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, u, err := askDaemon(cmd, g, (*api.Client).LoginURL)
			if err != nil {
				return err
			}
			return printResult(cmd, jsonOut, u, func(w io.Writer) error {
				fmt.Fprintln(w, u.URL)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, `print {"url", "expires", "ui_listen", "spki_sha256", "ca_sha256"} as JSON`)
	return cmd
}
