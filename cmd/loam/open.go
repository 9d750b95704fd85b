package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam"
	"github.com/loamdb/loam/internal/api"
	"github.com/loamdb/loam/internal/keys"
)

// homeExists reports whether home holds a device key, i.e. whether 'loam
// init' (or any loam.Open) has run there.
func homeExists(home string) (bool, error) {
	_, err := os.Stat(filepath.Join(home, keys.DeviceKeyFile))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("read the Loam home: %w", err)
}

// openNode opens the node in the home chosen by --home. Unlike loam.Open it
// does not create a home: a mistyped --home or LOAM_HOME should not quietly
// start a new, empty one. The caller closes the node.
func openNode(ctx context.Context, g *globalOptions) (*loam.Node, error) {
	home := g.homeDir()
	ok, err := homeExists(home)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errNoHome(home)
	}
	return openHome(ctx, home)
}

// errNoHome says that home holds no Loam home.
func errNoHome(home string) error {
	return fmt.Errorf("no Loam home in %s: run 'loam init' to create one, or choose another with --home or LOAM_HOME", home)
}

// openHome opens the node in home, creating it if needed.
func openHome(ctx context.Context, home string) (*loam.Node, error) {
	n, err := loam.Open(ctx, loam.Options{Home: home})
	if err != nil {
		return nil, err
	}
	return n, nil
}

// checkKey says what is wrong with a key the API would refuse.
func checkKey(key []byte) error {
	switch {
	case len(key) == 0:
		return errors.New("the key is empty: give a non-empty KEY")
	case len(key) > loam.MaxKeySize:
		return fmt.Errorf("the key is %d bytes, more than the limit of %d: use a shorter key", len(key), loam.MaxKeySize)
	}
	return nil
}

// checkValue says what is wrong with a value of n bytes the API would refuse.
func checkValue(n int) error {
	if n > loam.MaxValueSize {
		return fmt.Errorf("the value is %d bytes, more than the limit of %d (64 KiB): store a smaller value, or give a large value as a file (put -f FILE) to store it as a blob", n, loam.MaxValueSize)
	}
	return nil
}

// notFound turns the API's ErrNotFound for key in space ref into a message
// that says where to look.
func notFound(err error, ref string, key []byte) error {
	if errors.Is(err, loam.ErrNotFound) {
		return fmt.Errorf("key %q not found in space %s (list its keys with 'loam ls %s')", key, ref, ref)
	}
	return err
}

// withNode runs fn with the node of the home chosen by --home: through
// the daemon if one answers for it (loam.Connect), else on the store
// opened in this process. A daemon.json whose daemon does not answer is
// ignored with a note on stderr.
func withNode(cmd *cobra.Command, g *globalOptions, fn func(*loam.Node) error) (err error) {
	ctx := cmd.Context()
	n, err := loam.Connect(ctx, g.homeDir())
	if err != nil {
		if !errors.Is(err, loam.ErrNoDaemon) {
			return err
		}
		if errors.Is(err, loam.ErrStaleDaemon) {
			fmt.Fprintf(cmd.ErrOrStderr(), "loam: note: %s; opening the store directly\n", err)
		}
		if n, err = openNode(ctx, g); err != nil {
			return err
		}
	}
	defer func() {
		if cerr := n.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close the store: %w", cerr)
		}
	}()
	return fn(n)
}

// withSpace runs fn with space ref of the node withNode chooses.
func withSpace(cmd *cobra.Command, g *globalOptions, ref string, fn func(*loam.Node, *loam.Space) error) error {
	return withNode(cmd, g, func(n *loam.Node) error {
		sp, err := n.Space(cmd.Context(), ref)
		if err != nil {
			return err
		}
		return fn(n, sp)
	})
}

// askNode asks the node withNode chooses one question (ask, a method of
// loam.Node such as (*loam.Node).Devices) and returns its answer.
func askNode[T any](cmd *cobra.Command, g *globalOptions, ask func(*loam.Node, context.Context) (T, error)) (v T, err error) {
	err = withNode(cmd, g, func(n *loam.Node) error {
		v, err = ask(n, cmd.Context())
		return err
	})
	return v, err
}

// askSpace asks space ref of the node withNode chooses one question (ask,
// a method of loam.Space such as (*loam.Space).Members) and returns its
// answer.
func askSpace[T any](cmd *cobra.Command, g *globalOptions, ref string, ask func(*loam.Space, context.Context) (T, error)) (v T, err error) {
	err = withSpace(cmd, g, ref, func(_ *loam.Node, sp *loam.Space) error {
		v, err = ask(sp, cmd.Context())
		return err
	})
	return v, err
}

// withSpaceKey runs fn with space args[0] of the node withNode chooses and
// key args[1], once the key is checked (before the node is opened).
func withSpaceKey(cmd *cobra.Command, g *globalOptions, args []string, fn func(sp *loam.Space, key []byte) error) error {
	key := []byte(args[1])
	if err := checkKey(key); err != nil {
		return err
	}
	return withSpace(cmd, g, args[0], func(_ *loam.Node, sp *loam.Space) error {
		return fn(sp, key)
	})
}

// withDaemon runs fn with a node working through the daemon that runs for
// the home, or says to start one (why: what it is needed for, as
// needDaemon takes it).
func withDaemon(cmd *cobra.Command, g *globalOptions, why string, fn func(*loam.Node) error) error {
	n, err := needDaemon(cmd.Context(), g, why)
	if err != nil {
		return err
	}
	defer n.Close()
	return fn(n)
}

// needDaemon returns a node working through the daemon that runs for the
// home, or an error saying to start one. The caller closes the node.
func needDaemon(ctx context.Context, g *globalOptions, why string) (*loam.Node, error) {
	home := g.homeDir()
	n, err := loam.Connect(ctx, home)
	if err == nil {
		return n, nil
	}
	if !errors.Is(err, loam.ErrNoDaemon) {
		return nil, err
	}
	msg := fmt.Sprintf("no daemon runs for %s: start one with 'loam daemon'", home)
	if why != "" {
		msg += " " + why
	}
	if errors.Is(err, loam.ErrStaleDaemon) {
		msg += fmt.Sprintf(" (%s)", err)
	}
	return nil, errors.New(msg)
}

// daemonClient returns a client of the daemon's API, for the commands
// that show what only a daemon knows (peers, status, doctor, ui): the
// library's Node does not offer them. It checks that the daemon answers as
// needDaemon does.
func daemonClient(ctx context.Context, g *globalOptions) (*api.Client, error) {
	n, err := needDaemon(ctx, g, "")
	if err != nil {
		return nil, err
	}
	n.Close()
	c, _, err := api.ClientForHome(g.homeDir())
	return c, err
}
