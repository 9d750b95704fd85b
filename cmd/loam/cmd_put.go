package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam"
)

func newPutCmd(g *globalOptions) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "put SPACE KEY [VALUE | -f FILE | -]",
		Short: "Write a value under a key",
		Long: `Write a value under KEY in SPACE, as one signed commit, durable when the
command returns. Give the value exactly one way: as the VALUE argument,
from a file with -f FILE, or from stdin with "-". Values are at most 64 KiB.

A value starting with '-' goes after "--": loam put SPACE KEY -- -5.`,
		Example: `  loam put garden-club tools/drill 'cordless, 18V'
  loam put garden-club tools/drill/photo -f drill.jpg
  echo 'who has a ladder?' | loam put garden-club chat/general/0001 -`,
		Args: argsBetween(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			key := []byte(args[1])
			if err := checkKey(key); err != nil {
				return err
			}
			value, err := readValue(cmd, args[2:], file)
			if err != nil {
				return err
			}
			return withBackend(cmd, g, func(b backend) error {
				return b.Put(ctx, args[0], key, value)
			})
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "read the value from `FILE` (- for stdin)")
	return cmd
}

// readValue returns the value put was given: rest (the arguments after
// KEY) holds VALUE or "-", file is the -f flag. Exactly one source is a
// usage error otherwise.
func readValue(cmd *cobra.Command, rest []string, file string) ([]byte, error) {
	fromFile := cmd.Flags().Changed("file")
	switch {
	case fromFile && file == "":
		return nil, usageErrorf(cmd, "-f needs a file name")
	case fromFile && len(rest) > 0:
		return nil, usageErrorf(cmd, "give the value one way only: the VALUE argument, -f FILE, or - for stdin, not both %q and -f", rest[0])
	case !fromFile && len(rest) == 0:
		return nil, usageErrorf(cmd, "missing the value: give it as the VALUE argument, with -f FILE, or - for stdin")
	case !fromFile && rest[0] != "-":
		v := []byte(rest[0])
		return v, checkValue(len(v))
	}

	var r io.Reader
	name := "stdin"
	if fromFile && file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("read the value: %w", err)
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > int64(loam.MaxValueSize) {
			return nil, fmt.Errorf("%s: %w", file, checkValue(int(fi.Size())))
		}
		r, name = f, file
	} else {
		r = cmd.InOrStdin()
	}
	v, err := io.ReadAll(io.LimitReader(r, int64(loam.MaxValueSize)+1))
	if err != nil {
		return nil, fmt.Errorf("read the value from %s: %w", name, err)
	}
	if len(v) > loam.MaxValueSize {
		return nil, fmt.Errorf("%s: the value is more than %d bytes (64 KiB), the limit: store a smaller value (large files become blobs in a later version)", name, loam.MaxValueSize)
	}
	return v, nil
}
