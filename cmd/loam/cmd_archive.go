package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam"
)

func newSpaceArchiveCmd(g *globalOptions) *cobra.Command {
	var out string
	var withKeys, jsonOut bool
	cmd := &cobra.Command{
		Use:   "archive SPACE -o FILE",
		Short: "Write a space, its signed history and its blobs, to an archive file",
		Long: `Write SPACE to FILE as an archive: its signed commits exactly as they are,
the blobs its keys reference that this device holds (those of a private space
sealed, as stored), and what a restore needs to hold the space. 'loam space
restore FILE' restores it on any device, with no network: every commit is
verified there and none is re-signed, so every write keeps its author and time.
The format is docs/format/archive.md.

A private space's archive holds its keys and values sealed, and no read key:
it is what a seeder holds, safe to hand to one. With --with-keys it also holds
the space's read keys, and whoever has the file can read the space: keep it as
you keep the home itself. A public space's archive is readable by anyone who
has it.

FILE is written whole or not at all ('-' writes to standard output). Through
a running daemon, the daemon writes the archive.`,
		Example: `  loam space archive garden-club -o garden-club.loamarchive
  loam space archive family -o family.loamarchive --with-keys
  loam space archive garden-club -o - | ssh backup-host 'cat > garden.loamarchive'`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usageErrorf(cmd, "say where to write the archive with -o FILE ('-' for standard output)")
			}
			return withNode(cmd, g, func(n *loam.Node) error {
				ctx := cmd.Context()
				sp, err := n.Space(ctx, args[0])
				if err != nil {
					return err
				}
				p := newByteProgress(cmd.ErrOrStderr(), "archived")
				defer p.done()
				var sum loam.ArchiveSummary
				err = writeArchiveFile(out, cmd.OutOrStdout(), func(w io.Writer) error {
					var err error
					sum, err = sp.Archive(ctx, w, loam.ArchiveOptions{WithKeys: withKeys, Progress: p.update})
					return err
				})
				p.done()
				if err != nil {
					return err
				}
				if jsonOut {
					if out == "-" {
						return writeJSON(cmd.ErrOrStderr(), sum)
					}
					return writeJSON(cmd.OutOrStdout(), sum)
				}
				msg := fmt.Sprintf("archived %s (%s): %s", sum.Name, sum.Space, describeArchive(sum))
				if sum.Private && !sum.ReadKeys {
					msg += "; sealed, without read keys (a member reads it; --with-keys adds them)"
				}
				if sum.MissingBlobs > 0 {
					msg += fmt.Sprintf("; %d blob(s) not held here were left out (read them first to fetch them, then archive again)", sum.MissingBlobs)
				}
				w := cmd.OutOrStdout()
				if out == "-" {
					w = cmd.ErrOrStderr()
				}
				_, err = fmt.Fprintln(w, msg)
				return err
			})
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the archive to `FILE` ('-': standard output)")
	cmd.Flags().BoolVar(&withKeys, "with-keys", false, "add a private space's read keys: whoever has the file can read it")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print what the archive holds as JSON")
	return cmd
}

func newSpaceRestoreCmd(g *globalOptions) *cobra.Command {
	var name string
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "restore FILE",
		Short: "Restore a space from an archive of 'loam space archive'",
		Long: `Restore the space of an archive written by 'loam space archive' ('-' reads it
from standard input). Every commit is verified as if it came from a peer
(signature, hash chain, seq, time and the author's grant) and kept as signed:
nothing is re-signed, so every write keeps its author and time. No network is
needed; once restored, the space syncs with its peers as a joined one does.

The restore is all or nothing: a damaged or cut-short archive, or one holding
a commit that does not verify, fails with an error and leaves nothing behind.
The space is held under the name it had where it was archived, or --name.
A space held here already is not restored again.`,
		Example: `  loam space restore garden-club.loamarchive
  loam space restore family.loamarchive --name family-2024
  ssh backup-host 'cat garden.loamarchive' | loam space restore -`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if name != "" {
				if err := loam.CheckName(name); err != nil {
					return err
				}
			}
			var r io.Reader = cmd.InOrStdin()
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return fmt.Errorf("open the archive: %w", err)
				}
				defer f.Close()
				r = f
			}
			return withNode(cmd, g, func(n *loam.Node) error {
				p := newByteProgress(cmd.ErrOrStderr(), "restored")
				sum, err := n.RestoreSpace(cmd.Context(), r, loam.RestoreOptions{Name: name, Progress: p.update})
				p.done()
				if err != nil {
					return restoreHint(err)
				}
				return printResult(cmd, jsonOut, sum, func(w io.Writer) error {
					_, err := fmt.Fprintf(w, "restored %s (%s): %s, every commit verified\n", sum.Name, sum.Space, describeArchive(sum))
					return err
				})
			})
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "hold the space under local `NAME` (default: its name in the archive)")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print what was restored as JSON")
	return cmd
}

// restoreHint adds what to do next to a restore's error.
func restoreHint(err error) error {
	switch {
	case errors.Is(err, loam.ErrNameTaken):
		return fmt.Errorf("%w; choose another with --name", err)
	case errors.Is(err, loam.ErrBadArchive), errors.Is(err, loam.ErrArchiveRefused):
		return fmt.Errorf("%w; nothing was restored", err)
	}
	return err
}

func describeArchive(s loam.ArchiveSummary) string {
	return fmt.Sprintf("%d commits, %d blobs (%s), %s in all", s.Commits, s.Blobs, humanBytes(s.BlobBytes), humanBytes(s.Bytes))
}

// writeArchiveFile writes what fn writes to path, whole or not at all: to
// a temporary file beside it, synced, then renamed over it. Path "-" is
// stdout.
func writeArchiveFile(path string, stdout io.Writer, fn func(io.Writer) error) (err error) {
	if path == "-" {
		return fn(stdout)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if err := fn(f); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// byteProgress reports bytes done on a terminal, at most five times a
// second, on one line it clears when done.
type byteProgress struct {
	w    io.Writer
	verb string
	on   bool

	mu    sync.Mutex
	last  time.Time
	drawn bool
}

func newByteProgress(w io.Writer, verb string) *byteProgress {
	return &byteProgress{w: w, verb: verb, on: isTerminal(w)}
}

func (p *byteProgress) update(n int64) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.last) < 200*time.Millisecond {
		return
	}
	p.last = time.Now()
	p.drawn = true
	fmt.Fprintf(p.w, "\r\033[K%s %s", p.verb, humanBytes(n))
}

func (p *byteProgress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}
