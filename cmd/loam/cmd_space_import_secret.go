package main

import (
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam"
)

func newSpaceImportSecretCmd(g *globalOptions) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "import-secret SPACE [-f FILE]",
		Short: "Keep a space's secret key in this Loam home again",
		Long: `Read the secret key (spcsec_…) of SPACE from FILE (or standard input) and keep
it in the Loam home, after checking that it is the key of SPACE. See 'loam
space export-secret'.`,
		Example: `  loam space import-secret garden-club -f garden-club.spcsec
  loam space import-secret garden-club < garden-club.spcsec`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var r io.Reader = cmd.InOrStdin()
			if file != "" {
				f, err := os.Open(file)
				if err != nil {
					return err
				}
				defer f.Close()
				r = f
			}
			b, err := io.ReadAll(io.LimitReader(r, 1024))
			if err != nil {
				return err
			}
			id, err := spaceID(cmd, g, args[0])
			if err != nil {
				return err
			}
			return loam.ImportSecret(g.homeDir(), id, strings.TrimSpace(string(b)))
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "read the secret from `FILE` instead of standard input")
	return cmd
}
