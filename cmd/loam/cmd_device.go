package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam"
)

func newDeviceLsCmd(g *globalOptions) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List your devices",
		Long: `List the devices of your identity: name, author ID, when it was certified,
when it was last seen (its latest write in a space held here, or the last
sync with it), and whether it is revoked. This device is marked with *.`,
		Example: "  loam device ls\n  loam device ls --json",
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			ds, err := askNode(cmd, g, (*loam.Node).Devices)
			if err != nil {
				return err
			}
			return printResult(cmd, jsonOut, ds, func(out io.Writer) error {
				now := time.Now()
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "  NAME\tAUTHOR\tSINCE\tLAST SEEN\tSTATUS")
				for _, d := range ds {
					mark, seen := " ", "never"
					if d.This {
						mark, seen = "*", "this device"
					} else if d.LastSeen != nil {
						seen = ago(now, *d.LastSeen)
					}
					fmt.Fprintf(tw, "%s %s\t%s\t%s\t%s\t%s\n", mark, d.Name, d.Author, d.Since.Local().Format(time.DateOnly), seen, deviceStatus(d, now))
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, `print [{"author", "name", "since", "last_seen", "this", "spaces", "revoked": {"at", "spaces", "pending"}}] as JSON`)
	return cmd
}

// deviceStatus says whether d is revoked, and where.
func deviceStatus(d loam.Device, now time.Time) string {
	r := d.Revoked
	if r == nil {
		return "active, in " + plural(d.Spaces, "space")
	}
	s := "revoked"
	if r.At != nil {
		s += " " + ago(now, *r.At)
	}
	if r.Pending > 0 {
		s += fmt.Sprintf(" (not yet in %s)", plural(r.Pending, "space"))
	}
	return s
}

func newDeviceRevokeCmd(g *globalOptions) *cobra.Command {
	var yes, jsonOut bool
	cmd := &cobra.Command{
		Use:   "revoke NAME|AUTHOR",
		Short: "Revoke one of your devices (a lost or stolen one)",
		Long: `Revoke one of your devices, named by its name or its author ID (aut_…, see
'loam device ls'). Your identity signs the revocation; it is written into
every space held here where the device is certified, and your other devices
carry it into the spaces they hold. In each space the device's writes up to
the latest one held here keep counting; its later writes stop counting on
every replica, also those that received them first. In a private space
where this device is an admin, the read key is rotated: the revoked device
reads nothing written afterwards (it keeps what it already read).

This device must hold your identity key (see 'loam id show'); a device
cannot revoke itself. It asks first, unless --yes or when standard input
is not a terminal. A revocation cannot be undone: the device would need a
new identity to come back.`,
		Example: `  loam device revoke phone
  loam device revoke aut_… --yes --json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return withNode(cmd, g, func(n *loam.Node) error {
				if d, ask := revokeTarget(ctx, n, args[0]); ask && !yes && isTerminal(cmd.InOrStdin()) {
					ok, err := confirm(cmd, fmt.Sprintf("Revoke your device %q (%s)? Its later writes stop counting in every space, and this cannot be undone. [y/N] ", d.Name, d.Author), "nothing revoked")
					if !ok {
						return err
					}
				}
				r, err := n.RevokeDevice(ctx, args[0])
				if err != nil {
					return err
				}
				return printResult(cmd, jsonOut, r, func(out io.Writer) error {
					fmt.Fprintf(out, "revoked %q (%s): the revocation is written in %s\n", r.Name, r.Author, plural(r.Written, "space"))
					if r.Pending > 0 {
						fmt.Fprintf(out, "%s more will get it once this device may write there (or from your other devices)\n", plural(r.Pending, "space"))
					}
					return nil
				})
			})
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask first")
	cmd.Flags().BoolVar(&jsonOut, "json", false, `print {"author", "name", "written", "pending"} as JSON`)
	return cmd
}

// revokeTarget returns the device ref names, and whether to ask before
// revoking it: only a device that exists and is not this one (for the
// others, RevokeDevice says what is wrong at once).
func revokeTarget(ctx context.Context, n *loam.Node, ref string) (loam.Device, bool) {
	ds, err := n.Devices(ctx)
	if err != nil {
		return loam.Device{}, false
	}
	ref = strings.TrimSpace(ref)
	var hit []loam.Device
	for _, d := range ds {
		if d.Name == ref || d.Author == ref {
			hit = append(hit, d)
		}
	}
	if len(hit) != 1 || hit[0].This {
		return loam.Device{}, false
	}
	return hit[0], true
}

// askYes asks question on stderr and reads a line from stdin: yes for
// "y" or "yes".
func askYes(cmd *cobra.Command, question string) (bool, error) {
	if _, err := fmt.Fprint(cmd.ErrOrStderr(), question); err != nil {
		return false, err
	}
	line, err := bufio.NewReader(io.LimitReader(cmd.InOrStdin(), 1024)).ReadString('\n')
	if err != nil && err != io.EOF {
		return false, err
	}
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes", nil
}

// confirm asks question as askYes does; unless the answer is yes, it says
// nothing on stderr (what was not done: "nothing revoked"). It returns
// whether to go on, and an error when asking or saying failed.
func confirm(cmd *cobra.Command, question, nothing string) (bool, error) {
	ok, err := askYes(cmd, question)
	if err != nil || ok {
		return ok, err
	}
	_, err = fmt.Fprintln(cmd.ErrOrStderr(), nothing)
	return false, err
}
