package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam"
	"github.com/loamdb/loam/internal/keys"
)

func newJoinCmd(g *globalOptions) *cobra.Command {
	var (
		timeout time.Duration
		jsonOut bool
	)
	cmd := &cobra.Command{
		Use:   "join TICKET",
		Short: "Join a space with a ticket from 'loam invite'",
		Long: `Join the space of TICKET, a ticket printed by 'loam invite' on a device that
holds the space: connect to the peers it names, receive the space, and keep
it here under its name (with -2, -3… added if that name is taken). Print
the space's local name and ID.

With a daemon running for the Loam home, the daemon joins and keeps the
space in sync from then on. Without one, join runs a node in this process
just long enough to join and receive what the peers have (until the space
is in sync with a peer), then stops: run 'loam daemon' to keep
syncing. Either way join gives up after --timeout.`,
		Example: `  loam join loam2…
  loam join "$(cat ticket.txt)" --timeout 5m --json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if timeout <= 0 {
				return usageErrorf(cmd, "--timeout must be positive, not %s", timeout)
			}
			ticket := strings.TrimSpace(args[0])
			if _, err := keys.ParseTicket(ticket); err != nil {
				return err
			}
			return joinAndReport(cmd, g, ticket, timeout, jsonOut, "joined %s (%s)", "keep %s in sync")
		},
	}
	durationVar(cmd.Flags(), &timeout, "timeout", 2*time.Minute, "give up after `D` (e.g. 30s, 5m, 1h)")
	cmd.Flags().BoolVar(&jsonOut, "json", false, `print {"id", "name"} as JSON`)
	return cmd
}

// joinAndReport joins ticket within timeout (see join) for the command cmd
// (join or seed) and prints what it joined: done, a format of the name and
// ID, or {"id", "name"} with jsonOut. Without a daemon it says to run one
// to keep doing what keep says of the space's name.
func joinAndReport(cmd *cobra.Command, g *globalOptions, ticket string, timeout time.Duration, jsonOut bool, done, keep string) error {
	ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
	defer cancel()
	info, viaDaemon, err := join(ctx, cmd, g, ticket)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && cmd.Context().Err() == nil {
			return fmt.Errorf("%s: gave up after %s: the space did not arrive (is the inviting daemon running and reachable? retry, or raise --timeout)", cmd.Name(), timeout)
		}
		return err
	}
	if !viaDaemon {
		fmt.Fprintf(cmd.ErrOrStderr(), "synced what the peers had; run 'loam daemon' to "+keep+"\n", info.Name)
	}
	joined := struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}{info.ID, info.Name}
	return printResult(cmd, jsonOut, joined, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, done+"\n", info.Name, info.ID)
		return err
	})
}

// join joins through the daemon if one runs, else with a node of its own
// that it closes once the space has synced with a peer: the first sync is
// over, and the join went out.
func join(ctx context.Context, cmd *cobra.Command, g *globalOptions, ticket string) (info loam.SpaceInfo, viaDaemon bool, err error) {
	home := g.homeDir()
	n, err := loam.Connect(ctx, home)
	if err == nil {
		defer n.Close()
		sp, err := n.Join(ctx, ticket)
		if err != nil {
			return info, true, err
		}
		return sp.Info(), true, nil
	}
	if !errors.Is(err, loam.ErrNoDaemon) {
		return info, false, err
	}
	if errors.Is(err, loam.ErrStaleDaemon) {
		fmt.Fprintf(cmd.ErrOrStderr(), "loam: note: %s; joining with a node of this process\n", err)
	}
	ok, err := homeExists(home)
	if err != nil {
		return info, false, err
	}
	if !ok {
		return info, false, errNoHome(home)
	}
	n, err = loam.Open(ctx, loam.Options{Home: home, Network: true})
	if err != nil {
		return info, false, err
	}
	defer func() {
		if cerr := n.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close the node: %w", cerr)
		}
	}()
	sp, err := n.Join(ctx, ticket)
	if err != nil {
		return info, false, err
	}
	if err := sp.WaitSynced(ctx); err != nil {
		return info, false, err
	}
	return sp.Info(), false, nil
}
