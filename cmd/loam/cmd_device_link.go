package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/skip2/go-qrcode"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/loamdb/loam"
)

// newDeviceCmd is 'loam device': the person's devices.
func newDeviceCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "device",
		Short: "Your devices: link a new one, list them, revoke a lost one",
		Long: `A person's devices are certified by their identity (loam id). Link a new
device from one that holds the identity key: 'loam device link' there
prints a one-time link ticket (and its QR code), and 'loam device add
TICKET' on the new device makes it one of yours. Every space you are in
then comes to the new device, private ones included, and it writes there
as you, with no new invite.`,
		Example: `  loam device link                  # on your laptop
  loam device add loam2…            # on your new device
  loam device ls
  loam device revoke phone`,
		Args: noSubcommand,
	}
	cmd.AddCommand(newDeviceLinkCmd(g), newDeviceAddCmd(g), newDeviceLsCmd(g), newDeviceRevokeCmd(g)) // ls, revoke: cmd_device.go
	return cmd
}

func newDeviceLinkCmd(g *globalOptions) *cobra.Command {
	var withIdentity, noWait, noQR, jsonOut bool
	cmd := &cobra.Command{
		Use:   "link",
		Short: "Print a one-time link ticket (and QR code) for a new device of yours",
		Long: `Print a link ticket for a new device of yours, with its QR code: run
'loam device add TICKET' on the new device within ten minutes. The ticket
works once. This device must hold your identity key, and its daemon must
run until the new device is added: the command waits for it and says
which device was linked (--no-wait returns at once).

Treat the ticket as a secret until it is used: whoever uses it first
becomes one of your devices. With --with-identity the new device also gets
the identity key, so that it can link and revoke devices itself.`,
		Example: `  loam device link
  loam device link --with-identity --json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return withDaemon(cmd, g, "(the daemon answers the new device while it links)", func(n *loam.Node) error {
				lt, err := n.LinkDevice(ctx, loam.LinkOptions{WithIdentity: withIdentity})
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if jsonOut && noWait {
					return writeJSON(out, lt)
				}
				if !jsonOut {
					fmt.Fprintf(out, "Link ticket (works once, until %s):\n\n%s\n\n", lt.Expires.Local().Format(time.TimeOnly), lt.Ticket)
					if !noQR {
						if err := printQR(out, lt.Ticket); err != nil {
							return err
						}
					}
					fmt.Fprintf(out, "On the new device run:\n\n  loam device add %s\n\n", lt.Ticket)
					if noWait {
						return nil
					}
					fmt.Fprintln(cmd.ErrOrStderr(), "Waiting for the new device (Ctrl-C stops waiting; the ticket stays valid)…")
				}
				c, err := n.WaitLinked(ctx, lt.Ticket)
				if err != nil {
					return err
				}
				if jsonOut {
					return writeJSON(out, struct {
						loam.LinkTicket
						Device loam.DeviceCert `json:"device"`
					}{lt, c})
				}
				_, err = fmt.Fprintf(out, "Linked %q (%s): it now gets every space you are in.\n", c.Name, c.Author)
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&withIdentity, "with-identity", false, "give the new device the identity key too (it can then link and revoke devices)")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "print the ticket and return; the daemon still answers the new device")
	cmd.Flags().BoolVar(&noQR, "no-qr", false, "do not print the QR code")
	cmd.Flags().BoolVar(&jsonOut, "json", false, `print {"ticket", "expires", "device"} as JSON once linked ({"ticket", "expires"} with --no-wait)`)
	return cmd
}

// printQR prints s as a QR code in text, two rows a line.
func printQR(w io.Writer, s string) error {
	q, err := qrcode.New(s, qrcode.Low)
	if err != nil {
		return fmt.Errorf("make the QR code: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", q.ToSmallString(false))
	return err
}

func newDeviceAddCmd(g *globalOptions) *cobra.Command {
	var device string
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "add TICKET",
		Short: "Make this device one of yours, with a link ticket from 'loam device link'",
		Long: `Make this device one of your devices, with the link ticket 'loam device
link' printed on a device that holds your identity key (that device's
daemon must still run). This device joins your own space, is certified
there, and then gets every space you are in, private ones included, in the
background while its daemon runs; it writes in them as you.

This home must hold no identity yet. Its daemon must run.`,
		Example: `  loam device add loam2… --device "Ana's phone"`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return withDaemon(cmd, g, "(your spaces come to this device through it)", func(n *loam.Node) error {
				fmt.Fprintln(cmd.ErrOrStderr(), "Linking (the other device must be running)…")
				id, err := n.AddDevice(ctx, args[0], device)
				if err != nil {
					return err
				}
				return printResult(cmd, jsonOut, id, func(w io.Writer) error {
					_, err := fmt.Fprintf(w, "This device, %q, is now one of %s's devices (%s).\nYour spaces come here while the daemon runs: see them with 'loam space ls'.\n", id.Device.Name, id.Name, id.ID)
					return err
				})
			})
		},
	}
	cmd.Flags().StringVar(&device, "device", "", "this device's `NAME` (default: the host name)")
	cmd.Flags().BoolVar(&jsonOut, "json", false, `print {"id", "name", "holds_key", "device"} as JSON`)
	return cmd
}

// maxPhraseInput bounds what 'loam id recover' reads from standard input.
const maxPhraseInput = 4 << 10

func newIDRecoverCmd(g *globalOptions) *cobra.Command {
	var name, device string
	var peers []string
	var phraseOnly, jsonOut bool
	cmd := &cobra.Command{
		Use:   "recover",
		Short: "Recover your identity on this device from its 24-word phrase (read from standard input)",
		Long: `Make this device one of your devices again from your recovery phrase, when
your other devices are lost. The phrase is read from standard input (asked
for without echo on a terminal), never from the command line. This device
is certified, gets your own space back from any peer that holds it (a
seeder, another of your devices: found by the DHT or mDNS, or named with
--peer), and from it every space you are in, private ones included; it
writes there as you, and can revoke the lost devices ('loam device
revoke').

This home must hold no identity yet, and its daemon must run.`,
		Example: `  loam id recover < phrase.txt
  loam id recover --peer /ip4/192.0.2.7/tcp/4001/p2p/12D3Koo…`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			phrase, err := readPhrase(cmd)
			if err != nil {
				return err
			}
			return withDaemon(cmd, g, "(your spaces come back through it)", func(n *loam.Node) error {
				id, err := n.RecoverIdentity(ctx, phrase, loam.RecoverOptions{Name: name, Device: device, PhraseOnly: phraseOnly, Peers: peers})
				if err != nil {
					return err
				}
				return printResult(cmd, jsonOut, id, func(w io.Writer) error {
					_, err := fmt.Fprintf(w, "Recovered the identity %s. This device, %q, is certified: %s\nYour spaces come back from your peers while the daemon runs: see them with 'loam space ls'.\nRevoke a lost device with 'loam device revoke NAME'.\n", id.ID, id.Device.Name, id.Device.Author)
					return err
				})
			})
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "your `NAME` (default: learned from your own space)")
	cmd.Flags().StringVar(&device, "device", "", "this device's `NAME` in its certificate (default: the host name)")
	cmd.Flags().StringArrayVar(&peers, "peer", nil, "the `ADDRESS` (multiaddr with /p2p/) of a peer that holds your spaces; repeatable")
	cmd.Flags().BoolVar(&phraseOnly, "phrase-only", false, "do not keep the identity key on this device")
	cmd.Flags().BoolVar(&jsonOut, "json", false, `print {"id", "name", "holds_key", "device"} as JSON`)
	return cmd
}

// readPhrase reads the recovery phrase from standard input: asked for
// without echo on a terminal, else read whole (bounded).
func readPhrase(cmd *cobra.Command) (string, error) {
	in := cmd.InOrStdin()
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(cmd.ErrOrStderr(), "Your 24 words, separated by spaces: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		if err != nil {
			return "", fmt.Errorf("read the phrase: %w", err)
		}
		return string(b), nil
	}
	b, err := io.ReadAll(io.LimitReader(in, maxPhraseInput+1))
	if err != nil {
		return "", fmt.Errorf("read the phrase from standard input: %w", err)
	}
	if len(b) > maxPhraseInput {
		return "", fmt.Errorf("standard input holds more than %d bytes: give only the 24 words", maxPhraseInput)
	}
	if strings.TrimSpace(string(b)) == "" {
		return "", errors.New("no phrase on standard input: give your 24 words there (loam id recover < phrase.txt), never on the command line")
	}
	return string(b), nil
}
