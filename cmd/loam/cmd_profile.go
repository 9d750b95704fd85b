package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam"
)

// profileOut is what 'loam id profile --json' prints.
type profileOut struct {
	loam.Profile
	Written *int `json:"written,omitempty"` // spaces written to, when set
}

func newIDProfileCmd(g *globalOptions) *cobra.Command {
	var name, avatar string
	var noAvatar, jsonOut bool
	cmd := &cobra.Command{
		Use:   "profile [--name NAME] [--avatar FILE | --no-avatar]",
		Short: "Show or set the name and avatar others see for you",
		Long: `Show your profile, the name (and avatar picture) others see for you in
'loam members', the web UI's chat and members pages, wherever one of your
devices shows. Without flags it prints it; with --name or --avatar it sets
it: a name is 1 to 64 bytes without control characters; an avatar is a PNG,
JPEG or WebP image of at most 1 MiB. --name alone keeps the avatar, and
--avatar alone keeps the name.

The profile is written into every space this device holds where it may
write (not again where it is there already), and into each space it creates
or joins later; your other devices learn it from the spaces you share.
Until you set one, your profile's name is the name given to 'loam id create'.
This device must hold an identity.`,
		Example: `  loam id profile
  loam id profile --name "Ana Lima"
  loam id profile --avatar ana.png --json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			set := cmd.Flags().Changed("name") || avatar != "" || noAvatar
			if avatar != "" && noAvatar {
				return usageErrorf(cmd, "--avatar and --no-avatar: give one, not both")
			}
			return withNode(cmd, g, func(n *loam.Node) error {
				p, err := n.Profile(ctx)
				if err != nil {
					return err
				}
				if !set {
					return printResult(cmd, jsonOut, profileOut{Profile: p}, func(w io.Writer) error {
						return writeProfile(w, p)
					})
				}
				if cmd.Flags().Changed("name") {
					p.Name = name
				}
				if noAvatar {
					p.Avatar = ""
				}
				if avatar != "" {
					f, err := os.Open(avatar)
					if err != nil {
						return fmt.Errorf("the avatar: %w", err)
					}
					defer f.Close()
					if fi, err := f.Stat(); err == nil && fi.Size() > loam.MaxAvatar {
						return fmt.Errorf("%w: %s is %d bytes, an avatar is at most %d (1 MiB): use a smaller image", loam.ErrBadProfile, avatar, fi.Size(), loam.MaxAvatar)
					}
					b, err := n.AddBlob(ctx, f)
					if err != nil {
						return err
					}
					p.Avatar = b.ID
				}
				written, err := n.SetProfile(ctx, p)
				if err != nil {
					return err
				}
				return printResult(cmd, jsonOut, profileOut{Profile: p, Written: &written}, func(w io.Writer) error {
					if err := writeProfile(w, p); err != nil {
						return err
					}
					_, err := fmt.Fprintf(w, "written into %d spaces\n", written)
					return err
				})
			})
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "the `NAME` others see for you")
	cmd.Flags().StringVar(&avatar, "avatar", "", "an image `FILE` (PNG, JPEG or WebP, at most 1 MiB) as your avatar")
	cmd.Flags().BoolVar(&noAvatar, "no-avatar", false, "remove your avatar")
	cmd.Flags().BoolVar(&jsonOut, "json", false, `print {"name", "avatar", "written"} as JSON (avatar: its blob ID, or "")`)
	return cmd
}

func writeProfile(w io.Writer, p loam.Profile) error {
	av := p.Avatar
	if av == "" {
		av = "none"
	}
	_, err := fmt.Fprintf(w, "name    %s\navatar  %s\n", p.Name, av)
	return err
}
