package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/loamdb/loam"
)

// passphraseEnv names the variable a backup's passphrase may come from.
const passphraseEnv = "LOAM_PASSPHRASE"

func newBackupCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Back up this device's key and spaces, encrypted, and restore them",
		Long: `Write an encrypted backup of this home, and restore one onto a fresh home.

A backup holds the device key (the device is a member of its spaces by it),
the identity if this device holds one (with the identity key, unless it was
made with --phrase-only), the spaces' secret, read-key and invite-key files,
the peers known, your own space with its read keys, the list of the spaces
held and, with --with-data, chosen spaces' signed histories and blobs. It is encrypted with age (scrypt) under a passphrase read from
` + passphraseEnv + ` or asked on the terminal, never from an argument.
docs/security.md says what the passphrase protects.`,
		Example: `  loam backup create --out loam.backup
  loam backup create --out loam.backup --with-data family garden-club
  loam --home ~/.loam-new backup restore loam.backup`,
		Args: noSubcommand,
		RunE: showHelp,
	}
	cmd.AddCommand(newBackupCreateCmd(g), newBackupRestoreCmd(g))
	return cmd
}

func newBackupCreateCmd(g *globalOptions) *cobra.Command {
	var out string
	var data []string
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "create --out FILE",
		Short: "Write an encrypted backup of this home",
		Long: `Write an encrypted backup of this home to FILE: the device key, the identity
('loam id show') if this device holds one, the spaces' key files, the peers
known, your own space with its read keys when this device holds it, and the
list of the spaces held; with --with-data SPACE..., those spaces' signed
histories and blobs too (as 'loam space archive' writes them).

After a restore, a space whose data is in the backup is back at once; the
others return from their peers once the node runs ('loam daemon'), since the
device is still their member. Those refuse writes until they are in sync
with a peer: a device restored from an old backup must learn the commits it
wrote since before it writes again. Let it sync before writing in the
spaces restored with their data too.

The passphrase is read from ` + passphraseEnv + ` or, on a terminal, asked twice.
Without it nothing can restore the backup; with it, anyone holding the file
is this device in every space (keep both apart). If this device holds the
identity key (as 'loam id create' leaves it, without --phrase-only), this
backup holds your identity key: anyone with the file and the passphrase can
act as you. FILE is written whole or not at all.`,
		Example: `  loam backup create --out loam.backup
  LOAM_PASSPHRASE="$(pass show loam)" loam backup create --out /mnt/usb/loam.backup --with-data family`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usageErrorf(cmd, "say where to write the backup with --out FILE")
			}
			pass, err := readPassphrase(cmd, true)
			if err != nil {
				return err
			}
			return withNode(cmd, g, func(n *loam.Node) error {
				p := newByteProgress(cmd.ErrOrStderr(), "backed up")
				var sum loam.BackupSummary
				err := writeArchiveFile(out, cmd.OutOrStdout(), func(w io.Writer) error {
					var err error
					sum, err = n.Backup(cmd.Context(), w, loam.BackupOptions{Passphrase: pass, Spaces: data, Progress: p.update})
					return err
				})
				p.done()
				if err != nil {
					return err
				}
				return printResult(cmd, jsonOut, sum, func(w io.Writer) error {
					fmt.Fprintf(w, "backed up device %s: %d key files, %d spaces held, %d with their data; %s\n",
						sum.Author, sum.Files, len(sum.Spaces), len(sum.Archives), humanBytes(sum.Bytes))
					return printBackupIdentity(w, sum)
				})
			})
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "write the backup to `FILE`")
	cmd.Flags().StringSliceVar(&data, "with-data", nil, "add these spaces' histories and blobs (names or IDs; repeat or separate with commas)")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print what the backup holds as JSON")
	return cmd
}

func newBackupRestoreCmd(g *globalOptions) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "restore FILE",
		Short: "Restore a backup onto a fresh home",
		Long: `Restore a backup of 'loam backup create' onto the home (--home or LOAM_HOME),
which must not have a device key yet: the same device key, the spaces' key
files, the identity (checked against the device key) and, from the backup or
from their peers, the spaces, your own space first. Every commit of the
backup is verified as if it came from a peer.

The restore is all or nothing: a wrong passphrase, a damaged or cut-short
backup, or a home that already has a device key fail with an error and write
nothing. The passphrase is read from ` + passphraseEnv + ` or asked on the terminal.`,
		Example: `  loam --home ~/.loam backup restore /mnt/usb/loam.backup
  LOAM_PASSPHRASE=... loam backup restore loam.backup --json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return fmt.Errorf("open the backup: %w", err)
			}
			defer f.Close()
			pass, err := readPassphrase(cmd, false)
			if err != nil {
				return err
			}
			p := newByteProgress(cmd.ErrOrStderr(), "restored")
			sum, err := loam.RestoreBackup(cmd.Context(), g.homeDir(), f, loam.RestoreBackupOptions{Passphrase: pass, Progress: p.update})
			p.done()
			if err != nil {
				return err
			}
			return printResult(cmd, jsonOut, sum, func(w io.Writer) error {
				printRestored(w, g.homeDir(), sum)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print what was restored as JSON")
	return cmd
}

// printRestored says what 'loam backup restore' restored in home.
func printRestored(w io.Writer, home string, sum loam.BackupSummary) {
	fmt.Fprintf(w, "restored device %s in %s\n", sum.Author, home)
	if sum.Identity != "" {
		key := "without its key"
		if sum.IdentityKey {
			key = "with its key"
		}
		fmt.Fprintf(w, "  identity %s, %s\n", sum.Identity, key)
	}
	back := map[string]bool{}
	for _, a := range sum.Archives {
		back[a.Space] = true
	}
	for _, s := range sum.Spaces {
		how := "returns from its peers once the node runs ('loam daemon'); it takes writes once in sync with one"
		switch {
		case s.ID == sum.Person:
			how = "your own space, restored with its data and read keys"
		case back[s.ID]:
			how = "restored with its data"
		}
		fmt.Fprintf(w, "  %s (%s): %s\n", s.Name, s.ID, how)
	}
}

// identityKeyWarning is what create says of a backup holding the
// identity key.
const identityKeyWarning = "this backup holds your identity key: anyone with the file and the passphrase can act as you"

// printBackupIdentity says what a backup holds of the person.
func printBackupIdentity(w io.Writer, sum loam.BackupSummary) error {
	var b strings.Builder
	if sum.Identity != "" {
		key := "without its key (it is in your recovery phrase only)"
		if sum.IdentityKey {
			key = "with its key"
		}
		fmt.Fprintf(&b, "identity %s, %s\n", sum.Identity, key)
	}
	if sum.Person != "" {
		fmt.Fprintf(&b, "your own space %s, with its read keys\n", sum.Person)
	}
	if sum.IdentityKey {
		fmt.Fprintf(&b, "note: %s; keep the two apart\n", identityKeyWarning)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// readPassphrase returns the passphrase from LOAM_PASSPHRASE or, on a
// terminal, asked (twice when confirm).
func readPassphrase(cmd *cobra.Command, confirm bool) (string, error) {
	if p, ok := os.LookupEnv(passphraseEnv); ok {
		if p == "" {
			return "", fmt.Errorf("%s is empty: set it to the backup's passphrase", passphraseEnv)
		}
		return p, nil
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return "", fmt.Errorf("no passphrase: set %s, or run this on a terminal to be asked for it", passphraseEnv)
	}
	ask := func(prompt string) (string, error) {
		fmt.Fprint(cmd.ErrOrStderr(), prompt)
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(cmd.ErrOrStderr())
		if err != nil {
			return "", fmt.Errorf("read the passphrase: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	p, err := ask("Backup passphrase: ")
	if err != nil {
		return "", err
	}
	if p == "" {
		return "", errors.New("the passphrase is empty: choose one")
	}
	if confirm {
		again, err := ask("The same passphrase again: ")
		if err != nil {
			return "", err
		}
		if again != p {
			return "", errors.New("the two passphrases differ: nothing was written; try again")
		}
	}
	return p, nil
}
