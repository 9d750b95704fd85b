package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam"
)

// spaceID resolves a SPACE argument to its ID through the node.
func spaceID(cmd *cobra.Command, g *globalOptions, ref string) (id string, err error) {
	err = withSpace(cmd, g, ref, func(_ *loam.Node, sp *loam.Space) error {
		id = sp.ID()
		return nil
	})
	return id, err
}

func newSpaceExportSecretCmd(g *globalOptions) *cobra.Command {
	var remove bool
	cmd := &cobra.Command{
		Use:   "export-secret SPACE",
		Short: "Print a space's secret key, to keep it offline",
		Long: `Print the secret key (spcsec_…) of SPACE, kept in the Loam home since the
space was created here. The space key signs only the space's first commit,
which makes this device admin; daily work, inviting and revoking never need
it. Keep it offline (on paper, on a USB stick) and, with --remove, delete it
from this device, so that a stolen device cannot sign as the space. Bring
it back with 'loam space import-secret'.

Anyone holding the secret key is admin of the space forever: it cannot be
revoked.`,
		Example: `  loam space export-secret garden-club > garden-club.spcsec
  loam space export-secret garden-club --remove`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := spaceID(cmd, g, args[0])
			if err != nil {
				return err
			}
			secret, err := loam.ExportSecret(g.homeDir(), id, remove)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), secret)
			return err
		},
	}
	cmd.Flags().BoolVar(&remove, "remove", false, "delete the secret from this Loam home once printed")
	return cmd
}
