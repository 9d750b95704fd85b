package main

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

func newInitCmd(g *globalOptions) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create the device key and store in the Loam home",
		Long: `Create the device key and the store in the Loam home (--home, $LOAM_HOME, or
~/.loam), and print the home and this device's author ID. Running it again
changes nothing and says the home already exists, except that it makes the
home private again if others could read it: the home and every directory
in it only for this user (0700), every file too (0600).`,
		Example: `  loam init
  LOAM_HOME=/srv/loam loam init --json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			home, err := filepath.Abs(g.homeDir())
			if err != nil {
				return err
			}
			existed, err := homeExists(home)
			if err != nil {
				return err
			}
			// First, so that a device key others could read (refused
			// when opened) is made private; then again for what the
			// store created.
			opened := 0
			if existed {
				if opened, err = makePrivate(home); err != nil {
					return err
				}
			}
			n, err := openHome(ctx, home)
			if err != nil {
				return err
			}
			author := n.Author()
			if err := n.Close(); err != nil {
				return fmt.Errorf("close the store: %w", err)
			}
			if _, err := makePrivate(home); err != nil { // what the store just made
				return err
			}
			made := struct {
				Home    string `json:"home"`
				Author  string `json:"author"`
				Created bool   `json:"created"`
			}{home, author, !existed}
			return printResult(cmd, jsonOut, made, func(out io.Writer) error {
				switch {
				case existed && opened > 0:
					fmt.Fprintf(out, "Loam home %s already exists; made it private: %d files and directories were open to other users, now only to you\n", home, opened)
				case existed:
					fmt.Fprintf(out, "Loam home %s already exists; nothing changed\n", home)
				default:
					fmt.Fprintf(out, "created the Loam home %s\n", home)
				}
				fmt.Fprintf(out, "device author ID: %s\n", author)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, `print {"home", "author", "created"} as JSON`)
	return cmd
}

// makePrivate takes the group's and others' permissions off home and
// everything in it (symbolic links aside, which are not followed), so that
// directories end 0700 and files 0600: a home made by hand (mkdir), copied
// or restored may be readable by others, and the store and the key files
// inside are the user's data and secrets. It returns how many entries it
// changed.
func makePrivate(home string) (int, error) {
	changed := 0
	err := filepath.WalkDir(home, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if perm := info.Mode().Perm(); perm&0o077 != 0 {
			if err := os.Chmod(path, perm&^0o077); err != nil {
				return err
			}
			changed++
		}
		return nil
	})
	if err != nil {
		return changed, fmt.Errorf("make the Loam home private: %w", err)
	}
	return changed, nil
}
