package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam"
	"github.com/loamdb/loam/internal/api"
)

func newBlobCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "blob",
		Short: "Add, fetch and manage blobs (large files)",
		Long: `Blobs are large values: files cut into 1 MiB chunks, each verified by its
BLAKE3 hash, and named by the hash of the list of chunks (blb_…). A download
pulls different chunks from every connected peer that has the blob at once,
checks every chunk before it is written, and resumes where it stopped.

A key of a space can hold a blob ('loam put SPACE KEY -f FILE' stores files
over 64 KiB as blobs); members fetch blobs up to 64 MiB as soon as they see
them ('loam daemon --fetch-blobs' changes that) and larger ones when read.
A blob is kept while a key references it or while it is pinned; 'loam blob
gc' removes the others.`,
		Example: `  loam blob add holiday.mp4
  loam blob get blb_… -o holiday.mp4
  loam blob ls`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newBlobAddCmd(g), newBlobGetCmd(g), newBlobLsCmd(g),
		newBlobPinCmd(g, true), newBlobPinCmd(g, false), newBlobGCCmd(g))
	return cmd
}

func newBlobAddCmd(g *globalOptions) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "add FILE|-",
		Short: "Store a file as a pinned blob and print its ID",
		Long: `Store FILE (or stdin, with "-") as a blob, pinned so that GC keeps it,
and print its ID. Peers connected to this node's daemon can then fetch it
with 'loam blob get ID'. With --json, print {"id", "size", "chunks",
"held", "pinned"}.`,
		Example: `  loam blob add holiday.mp4
  tar c photos | loam blob add -`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var r io.Reader = cmd.InOrStdin()
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				r = f
			}
			return withNode(cmd, g, func(n *loam.Node) error {
				info, err := n.AddBlob(ctx, r)
				if err != nil {
					return err
				}
				return printResult(cmd, jsonOut, apiBlobInfo(info), func(w io.Writer) error {
					fmt.Fprintln(w, info.ID)
					return nil
				})
			})
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the blob's ID, size and chunks as JSON")
	return cmd
}

func apiBlobInfo(b loam.BlobInfo) api.BlobInfo {
	return api.BlobInfo{ID: b.ID, Size: b.Size, Chunks: b.Chunks, Held: b.Held, Pinned: b.Pinned}
}

func newBlobGetCmd(g *globalOptions) *cobra.Command {
	var out string
	var progress, jsonOut bool
	cmd := &cobra.Command{
		Use:   "get ID [-o FILE]",
		Short: "Fetch a blob from peers and write it out",
		Long: `Fetch blob ID from every peer the daemon is connected to, verifying each
chunk, and pin it; then write it to FILE (-o), or to stdout. Chunks already
held are kept, so a download that was interrupted resumes where it
stopped. Fetching needs a running daemon ('loam daemon'); a blob held whole
is written out without one.

On a terminal a progress bar shows bytes, rate, time left and peers on
stderr (--progress shows it anywhere). With --json (and -o), print what was
fetched: {"fetched", "peers", "corrupt"}.`,
		Example: `  loam blob get blb_… -o model.bin
  loam blob get blb_… | tar x`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if jsonOut && out == "" {
				return usageErrorf(cmd, "--json prints what was fetched, so the blob must go to a file: give -o FILE")
			}
			return withNode(cmd, g, func(n *loam.Node) error {
				var bar *progressBar
				var pf func(loam.BlobProgress)
				if progress || isTerminal(cmd.ErrOrStderr()) {
					bar = newProgressBar(cmd.ErrOrStderr())
					pf = bar.update
				}
				st, err := n.FetchBlob(ctx, args[0], pf)
				if bar != nil {
					bar.finish()
				}
				if errors.Is(err, loam.ErrOffline) {
					return errors.New("fetching a blob needs the network: start 'loam daemon' for this home, then run this again")
				}
				if err != nil {
					return err
				}
				if err := writeBlob(cmd, n, args[0], out); err != nil {
					return err
				}
				if jsonOut {
					return writeJSON(cmd.OutOrStdout(), api.FetchStats{Fetched: st.Fetched, Peers: st.Peers, Corrupt: st.Corrupt})
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the blob to `FILE` (default: stdout)")
	cmd.Flags().BoolVar(&progress, "progress", false, "show the progress bar even when stderr is not a terminal")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print what was fetched from whom as JSON (needs -o)")
	return cmd
}

// writeBlob copies blob id to file, or to stdout if file is empty.
func writeBlob(cmd *cobra.Command, n *loam.Node, id, file string) error {
	r, err := n.OpenBlob(cmd.Context(), id)
	return writeOpened(cmd, r, err, "blob "+id, file)
}

// writeKeyBlob writes the blob that key of sp holds (opened, in a private
// space) to stdout, or to file if it is not empty.
func writeKeyBlob(cmd *cobra.Command, sp *loam.Space, key []byte, file string) error {
	r, err := sp.OpenBlob(cmd.Context(), key)
	return writeOpened(cmd, r, err, fmt.Sprintf("the blob of %q", key), file)
}

// writeOpened writes r, the blob called what that OpenBlob returned with
// err, as writeReader does; a blob not all here (and no daemon to fetch it)
// is an error that says to start one.
func writeOpened(cmd *cobra.Command, r *loam.BlobReader, err error, what, file string) error {
	if errors.Is(err, loam.ErrOffline) {
		return fmt.Errorf("%s is not all here; start 'loam daemon' for this home to fetch it from peers", what)
	}
	if err != nil {
		return err
	}
	return writeReader(cmd, r, file)
}

// writeReader writes r to stdout, or to file if it is not empty, and
// closes r.
func writeReader(cmd *cobra.Command, r io.ReadCloser, file string) error {
	defer r.Close()
	if file == "" {
		_, err := io.Copy(cmd.OutOrStdout(), r)
		return err
	}
	return writeFileFrom(file, r)
}

// writeFileAtomic writes data to file (see writeFileFrom).
func writeFileAtomic(file string, data []byte) error {
	return writeFileFrom(file, bytes.NewReader(data))
}

// writeFileFrom writes r to file under a temporary name in the same
// directory and renames it into place when complete, so file is never
// left half-written.
func writeFileFrom(file string, r io.Reader) error {
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".*.part")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", file, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}

func newBlobLsCmd(g *globalOptions) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the blobs held here",
		Long: `List the blobs held here, whole or in part: ID, SIZE, HELD (chunks held of
all) and PINNED. With --json, an array of {"id", "size", "chunks", "held",
"pinned"}.`,
		Example: `  loam blob ls
  loam blob ls --json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			blobs, err := askNode(cmd, g, (*loam.Node).Blobs)
			if err != nil {
				return err
			}
			asAPI := func(b loam.BlobInfo) any { return apiBlobInfo(b) }
			return printList(cmd, jsonOut, blobs, asAPI, "no blobs here yet: add one with 'loam blob add FILE'", func(out io.Writer) error {
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tSIZE\tHELD\tPINNED")
				for _, bl := range blobs {
					pinned := "no"
					if bl.Pinned {
						pinned = "yes"
					}
					fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%s\n", bl.ID, humanBytes(bl.Size), bl.Held, bl.Chunks, pinned)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the blobs as a JSON array")
	return cmd
}

func newBlobPinCmd(g *globalOptions, on bool) *cobra.Command {
	use, short, long := "pin ID", "Keep a blob whatever keys reference it",
		`Pin blob ID: GC keeps it even when no key of a space references it.`
	if !on {
		use, short, long = "unpin ID", "Let GC remove a blob no key references",
			`Unpin blob ID: GC removes it once no key of a space held here references
it. Unpinning a blob that is not pinned does nothing.`
	}
	return &cobra.Command{
		Use: use, Short: short, Long: long,
		Example: "  loam blob " + strings.Fields(use)[0] + " blb_…",
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withNode(cmd, g, func(n *loam.Node) error {
				if on {
					return n.PinBlob(cmd.Context(), args[0])
				}
				return n.UnpinBlob(cmd.Context(), args[0])
			})
		},
	}
}

func newBlobGCCmd(g *globalOptions) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Remove the blobs nothing keeps",
		Long: `Remove every blob that no key of a space held here references, that is
not pinned and that no download, write or reader is using, and print the
space freed. With --json, print {"freed"} in bytes.`,
		Example: `  loam blob gc`,
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			freed, err := askNode(cmd, g, (*loam.Node).GCBlobs)
			if err != nil {
				return err
			}
			return printResult(cmd, jsonOut, api.GCResult{Freed: freed}, func(w io.Writer) error {
				fmt.Fprintf(w, "freed %s\n", humanBytes(freed))
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the bytes freed as JSON")
	return cmd
}
