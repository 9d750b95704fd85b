package main

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam"
)

func newPutCmd(g *globalOptions) *cobra.Command {
	var file, mediaType string
	cmd := &cobra.Command{
		Use:   "put SPACE KEY [VALUE | -f FILE | -]",
		Short: "Write a value under a key",
		Long: `Write a value under KEY in SPACE, as one signed commit, durable when the
command returns. Give the value exactly one way: as the VALUE argument,
from a file with -f FILE, or from stdin with "-".

A value of up to 64 KiB is stored in the commit itself. A larger one (from a
file or stdin) is stored as a blob: cut into 1 MiB chunks, content-addressed,
and fetched by the other members from every peer that has it; the key holds
a reference to it (see 'loam blob --help'). Its media type is taken from
--type, or guessed from the file name's extension.

A value starting with '-' goes after "--": loam put SPACE KEY -- -5.`,
		Example: `  loam put garden-club shed/drill 'cordless, 18V'
  loam put garden-club shed/drill/photo -f drill.jpg
  echo 'who has a ladder?' | loam put garden-club chat/general/0001 -`,
		Args: argsBetween(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			key := []byte(args[1])
			if err := checkKey(key); err != nil {
				return err
			}
			src, name, closeSrc, err := valueSource(cmd, args[2:], file)
			if err != nil {
				return err
			}
			defer closeSrc()
			head, err := io.ReadAll(io.LimitReader(src, int64(loam.MaxValueSize)+1))
			if err != nil {
				return fmt.Errorf("read the value from %s: %w", name, err)
			}
			return withSpace(cmd, g, args[0], func(_ *loam.Node, sp *loam.Space) error {
				if len(head) <= loam.MaxValueSize {
					return sp.Put(ctx, key, head)
				}
				mt := mediaType
				if mt == "" && file != "" && file != "-" {
					mt = mime.TypeByExtension(filepath.Ext(file))
				}
				ref, err := sp.PutBlob(ctx, key, io.MultiReader(bytes.NewReader(head), src), mt)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "stored %s as blob %s (%s)\n", name, ref.ID, humanBytes(ref.Size))
				return nil
			})
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "read the value from `FILE` (- for stdin)")
	cmd.Flags().StringVar(&mediaType, "type", "", "the media `TYPE` of a value stored as a blob, e.g. image/jpeg")
	return cmd
}

// valueSource returns where put's value comes from: rest (the arguments
// after KEY) holds VALUE or "-", file is the -f flag. Anything but exactly
// one source is a usage error.
func valueSource(cmd *cobra.Command, rest []string, file string) (r io.Reader, name string, closeFn func(), err error) {
	fromFile := cmd.Flags().Changed("file")
	none := func() {}
	switch {
	case fromFile && file == "":
		return nil, "", none, usageErrorf(cmd, "-f needs a file name")
	case fromFile && len(rest) > 0:
		return nil, "", none, usageErrorf(cmd, "give the value one way only: the VALUE argument, -f FILE, or - for stdin, not both %q and -f", rest[0])
	case !fromFile && len(rest) == 0:
		return nil, "", none, usageErrorf(cmd, "missing the value: give it as the VALUE argument, with -f FILE, or - for stdin")
	case !fromFile && rest[0] != "-":
		v := []byte(rest[0])
		return bytes.NewReader(v), "the argument", none, checkValue(len(v))
	case fromFile && file != "-":
		f, err := os.Open(file)
		if err != nil {
			return nil, "", none, fmt.Errorf("read the value: %w", err)
		}
		return f, file, func() { f.Close() }, nil
	}
	return cmd.InOrStdin(), "stdin", none, nil
}
