package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam"
)

func newRevokeCmd(g *globalOptions) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "revoke SPACE AUTHOR|IDENTITY|TICKET",
		Short: "Revoke a member, a person or an invite",
		Long: `Revoke a member of SPACE, named by its author ID (aut_…, see 'loam members'),
a person, named by their identity ID (idt_…: every device of the person,
also those certified later or not yet seen here, which are cut before their
first write), or an invite, named by its ticket (loam2…). This device must
be an admin of the whole space. (To revoke one of your own devices in every
space, use 'loam device revoke'.)

A revocation cuts: the member's commits up to the latest one this device
holds keep counting (and so do the grants among them); its later commits
stop counting on every device, including devices that received them
before the revocation. A revoked invite admits no device after those that
joined with it so far. Revocation does not take back what the member has
already read (in a private space, revoking starts a new read-key epoch,
sealed to the remaining readers: the revoked cannot read later writes, nor
can anyone holding the ticket it joined with), and a device that never syncs with anyone who saw the
revocation keeps showing the member's later writes until it does.`,
		Example: `  loam revoke garden-club aut_…
  loam revoke garden-club idt_…
  loam revoke garden-club "$(cat ticket.txt)" --json`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return withSpace(cmd, g, args[0], func(_ *loam.Node, sp *loam.Space) error {
				r, err := sp.Revoke(ctx, args[1])
				if err != nil {
					return err
				}
				return printResult(cmd, jsonOut, r, func(w io.Writer) error {
					var err error
					if r.Person != "" {
						_, err = fmt.Fprintf(w, "revoked person %s: %s cut after their latest commit held here, any other device of theirs before its first\n", r.Person, plural(len(r.Devices), "device"))
					} else if r.Invite {
						_, err = fmt.Fprintf(w, "revoked invite %s after %d joins\n", r.Author, r.LastSeq)
					} else {
						_, err = fmt.Fprintf(w, "revoked %s after its commit %d\n", r.Author, r.LastSeq)
					}
					if err == nil && r.Epoch > 0 {
						_, err = fmt.Fprintf(w, "new read key: epoch %d; writes from now on are unreadable to the revoked\n", r.Epoch)
					}
					return err
				})
			})
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, `print {"author", "invite", "last_seq", "epoch", "person", "devices"} as JSON`)
	return cmd
}
