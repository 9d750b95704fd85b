package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam/internal/api"
)

func newPairCmd(g *globalOptions) *cobra.Command {
	var name string
	var noQR, jsonOut bool
	cmd := &cobra.Command{
		Use:   "pair",
		Short: "Pair a phone's or tablet's browser with this node's web UI",
		Long: `Print a pairing link for each address of this machine on the home network,
the QR code of the first, and a one-time code. Scan the QR code with the
phone (or open the link), accept the browser's warning about the node's
own certificate once (the page shows its fingerprint: it must be the one
printed here), and the browser is paired: it gets a session named --name
that survives daemon restarts and lasts until revoked ('loam sessions
revoke NAME') or unused for 90 days. Or open https://ADDRESS:PORT/pair.html
and type the code.

To install the app on the phone's home screen (and use it offline), the
phone must trust the node: the pair page's "Trust this home node" step
installs the node's own certificate authority, which is valid only for
this node's names and home-network addresses. Its SHA-256, printed here,
must be the one the phone shows.

The code works once, within 10 minutes; five wrong codes lock pairing for
a minute. The daemon must run with --ui-listen (e.g. 'loam daemon
--ui-listen 0.0.0.0:7443').`,
		Example: `  loam pair --name "Ana's phone"
  loam pair --json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, p, err := askDaemon(cmd, g, func(c *api.Client, ctx context.Context) (api.Pairing, error) {
				return c.Pair(ctx, name)
			})
			if err != nil {
				return err
			}
			return printResult(cmd, jsonOut, p, func(out io.Writer) error {
				return printPairing(out, p, noQR)
			})
		},
	}
	cmd.Flags().StringVar(&name, "name", "phone", "name the browser's session `NAME` (as 'loam sessions' lists it)")
	cmd.Flags().BoolVar(&noQR, "no-qr", false, "do not print the QR code")
	cmd.Flags().BoolVar(&jsonOut, "json", false, `print {"name", "code", "expires", "urls", "spki_sha256", "ca_sha256"} as JSON`)
	return cmd
}

// printPairing says how to pair a browser with p, with the QR code of its
// first link unless noQR.
func printPairing(out io.Writer, p api.Pairing, noQR bool) error {
	exp, _ := time.Parse(time.RFC3339, p.Expires)
	fmt.Fprintf(out, "Pair a browser as %q: open on the phone (works once, until %s)\n\n", p.Name, exp.Local().Format(time.TimeOnly))
	for _, u := range p.URLs {
		fmt.Fprintf(out, "  %s\n", u)
	}
	fmt.Fprintln(out)
	if !noQR && len(p.URLs) > 0 {
		if err := printQR(out, p.URLs[0]); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "or type the code %s on the pair page (https://ADDRESS:PORT/pair.html).\n", p.Code)
	fmt.Fprintf(out, "The browser warns about the node's own certificate until the phone trusts\nthe node: its public key's SHA-256 must be %s\n", p.SPKI)
	if p.CA != "" {
		fmt.Fprintf(out, "To install the app on the phone, trust this home node from the pair page\n(\"Trust this home node\"): the certificate it installs must have the SHA-256\n  %s\n", p.CA)
	}
	return nil
}
