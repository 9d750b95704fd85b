package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam"
)

func newEraseCmd(g *globalOptions) *cobra.Command {
	var prefix, jsonOut bool
	cmd := &cobra.Command{
		Use:   "erase SPACE KEY",
		Short: "Erase a key's values from every replica's disk",
		Long: `Erase the values of every write ever made to KEY in SPACE (with --prefix, to
every key under KEY): one signed erase, after which this node and every
other member and seeder that receives it drop those values from their disks,
and the blobs they reference, while the history still verifies (each write
keeps its digest). 'loam get' of the key then says who erased it and when.

You may erase your own writes (from any of your devices); erasing another
member's needs admin (of a prefix the key has). An erase cannot take back a
copy someone already made: see docs/security.md.

A delete ('loam del') only hides a key; erase is what frees the bytes.`,
		Example: `  loam erase garden-club photos/mistake.jpg
  loam erase garden-club chat/general/ --prefix
  loam erase garden-club shed/drill --json`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return withSpaceKey(cmd, g, args, func(sp *loam.Space, key []byte) error {
				erase := sp.Erase
				if prefix {
					erase = sp.ErasePrefix
				}
				n, err := erase(ctx, key)
				if errors.Is(err, loam.ErrNothingToErase) {
					return fmt.Errorf("nothing to erase: no write to %q in %s holds a value on this node (list its keys with 'loam ls %s')", key, args[0], args[0])
				}
				if err != nil {
					return err
				}
				erased := struct {
					Space  string `json:"space"`
					Key    string `json:"key"`
					Prefix bool   `json:"prefix,omitempty"`
					Erased int    `json:"erased"`
				}{sp.Name(), args[1], prefix, n}
				return printResult(cmd, jsonOut, erased, func(w io.Writer) error {
					what := fmt.Sprintf("%q", key)
					if prefix {
						what = fmt.Sprintf("keys under %q", key)
					}
					fmt.Fprintf(w, "erased %s of %s in %s: peers drop them as they sync\n", plural(n, "write"), what, sp.Name())
					return nil
				})
			})
		},
	}
	cmd.Flags().BoolVar(&prefix, "prefix", false, "erase every key under KEY")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print what was erased as JSON")
	return cmd
}
