package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam"
)

func newIDCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "id",
		Short: "Your identity: one person over all of your devices",
		Long: `A person's identity (idt_…) is a key derived from a recovery phrase of 24
words. It certifies each of the person's devices; a device's certificate
travels into every space the device is in, so that the person shows as one
member with several devices, and a grant to the person (loam grant SPACE
idt_… ROLE) holds for all of them.`,
		Example: `  loam id create --name "Ana"
  loam id show`,
		Args: noSubcommand,
	}
	cmd.AddCommand(newIDCreateCmd(g), newIDShowCmd(g), newIDRecoverCmd(g), newIDProfileCmd(g))
	return cmd
}

// identityOut is what 'loam id create --json' prints.
type identityOut struct {
	loam.Identity
	Phrase string `json:"phrase"`
}

func newIDCreateCmd(g *globalOptions) *cobra.Command {
	var name, device string
	var phraseOnly, jsonOut bool
	cmd := &cobra.Command{
		Use:   "create --name NAME",
		Short: "Create your identity on this device, and print its recovery phrase once",
		Long: `Create a new identity for the person NAME: a recovery phrase of 24 words, the
identity key derived from it, and this device's certificate (named --device,
by default the host name). The phrase is printed once and kept nowhere:
write it down on paper and keep it safe; never share it, never type it into
a website. It alone recovers your identity when every device is lost, and
whoever holds it can act as you.

The identity key is kept on this device (in the Loam home, readable only
by you), so that this device can link and revoke your other devices; with
--phrase-only it is kept only in the phrase.

This device's certificate is written into every space it holds where it
may write, and into each space it creates or joins later. A home holds one
identity.`,
		Example: `  loam id create --name "Ana"
  loam id create --name "Ana" --device "Ana's laptop" --json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return withNode(cmd, g, func(n *loam.Node) error {
				id, phrase, err := n.CreateIdentity(ctx, name, loam.IdentityOptions{Device: device, PhraseOnly: phraseOnly})
				if err != nil {
					return err
				}
				return printResult(cmd, jsonOut, identityOut{id, phrase}, func(out io.Writer) error {
					return printCreated(out, id, phrase)
				})
			})
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "your `NAME`, as others will see it (required)")
	cmd.Flags().StringVar(&device, "device", "", "this device's `NAME` in its certificate (default: the host name)")
	cmd.Flags().BoolVar(&phraseOnly, "phrase-only", false, "keep the identity key only in the recovery phrase, not on this device")
	cmd.Flags().BoolVar(&jsonOut, "json", false, `print {"id", "name", "holds_key", "device", "phrase"} as JSON`)
	cmd.MarkFlagRequired("name")
	return cmd
}

// printCreated says what 'loam id create' made, and shows the phrase once.
func printCreated(out io.Writer, id loam.Identity, phrase string) error {
	fmt.Fprintf(out, "Created the identity of %s: %s\nThis device, %q, is certified: %s\n\n", id.Name, id.ID, id.Device.Name, id.Device.Author)
	fmt.Fprintf(out, "Your recovery phrase (shown this once):\n\n")
	words := strings.Fields(phrase)
	for i := 0; i < len(words); i += 6 {
		var line strings.Builder
		for j := i; j < min(i+6, len(words)); j++ {
			fmt.Fprintf(&line, " %2d. %-9s", j+1, words[j])
		}
		fmt.Fprintf(out, "   %s\n", strings.TrimRight(line.String(), " "))
	}
	where := "This device keeps the identity key too (in its Loam home)."
	if !id.HoldsKey {
		where = "The identity key is kept only in this phrase, on no device."
	}
	_, err := fmt.Fprintf(out, `
Write these 24 words down on paper, in order, and keep them safe. Never
share them and never type them into a website: whoever holds them can act
as you. They alone recover your identity if you lose every device.
%s
`, where)
	return err
}

func newIDShowCmd(g *globalOptions) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:     "show",
		Short:   "Show the identity this device holds",
		Example: "  loam id show\n  loam id show --json",
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := askNode(cmd, g, (*loam.Node).Identity)
			if err != nil {
				return err
			}
			return printResult(cmd, jsonOut, id, func(out io.Writer) error {
				key := "on this device"
				if !id.HoldsKey {
					key = "only in the recovery phrase"
				}
				_, err := fmt.Fprintf(out, "identity  %s\nname      %s\nkey       %s\ndevice    %s %q, certified %s\n",
					id.ID, id.Name, key, id.Device.Author, id.Device.Name, id.Device.Since.Local().Format(time.DateTime))
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, `print {"id", "name", "holds_key", "device": {"author", "name", "since"}} as JSON`)
	return cmd
}

func newGrantCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "grant SPACE IDENTITY|AUTHOR ROLE",
		Short: "Grant a role in a space to a person or a device",
		Long: `Grant ROLE (read, write, admin or seed) in SPACE to a person, named by their
identity ID (idt_…, see 'loam id show' on their device), or to one device,
named by its author ID (aut_…). A grant to a person holds for every device
that person certifies, those linked later too, with no new invite. This
device must be an admin of the space.`,
		Example: `  loam grant garden-club idt_… write`,
		Args:    exactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withSpace(cmd, g, args[0], func(_ *loam.Node, sp *loam.Space) error {
				if err := sp.Grant(cmd.Context(), args[1], loam.Role(args[2])); err != nil {
					return err
				}
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "granted %s to %s in %s\n", args[2], args[1], sp.Name())
				return err
			})
		},
	}
	return cmd
}
