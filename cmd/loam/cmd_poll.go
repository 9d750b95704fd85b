package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam"
)

func newPollCmd(g *globalOptions) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "poll SPACE [POLL]",
		Short: "Show the community board's polls and their tallies",
		Long: `Show the polls of SPACE's community board (keys board/poll/MS-AUTHOR,
docs/apps.md) with their tallies, newest first, or one poll (POLL: its
key, or the key's last segment MS-AUTHOR) with its counted votes.

The tally is counted here from the signed votes held (board/vote/POLL/IDT):
one vote per person, the latest signed at or before the close; votes signed
after the close do not count; a vote whose key names a person who did not
certify the device that signed it is ignored. An open ballot lists who voted
for what; a secret one shows counts only, but every vote is a signed entry
members can read: secret only hides it in the apps.

Write polls and votes with the web UI ('loam ui'), or with 'loam put'.`,
		Example: `  loam poll garden-club
  loam poll garden-club 1795275122119-aut_… --json`,
		Args: argsBetween(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				ps, err := askSpace(cmd, g, args[0], (*loam.Space).Polls)
				if err != nil {
					return err
				}
				return printResult(cmd, jsonOut, ps, func(w io.Writer) error { return writePolls(w, ps) })
			}
			p, err := askSpace(cmd, g, args[0], func(sp *loam.Space, ctx context.Context) (loam.Poll, error) {
				return sp.Poll(ctx, args[1])
			})
			if err != nil {
				return err
			}
			return printResult(cmd, jsonOut, p, func(w io.Writer) error { return writePoll(w, p) })
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, `print the poll (or a list of them) as JSON: {"key", "id", "author", "person", "name", "question", "options", "closes", "closed", "ballot", "counts", "votes": [{"person", "name", "option", "at"}], "signed", "counted", "late", "invalid", "ignored", "rule"}`)
	return cmd
}

// pollState is a poll's state in a word or two.
func pollState(p loam.Poll) string {
	if p.Closed {
		return "closed " + p.Closes.Local().Format(time.DateTime)
	}
	return "open until " + p.Closes.Local().Format(time.DateTime)
}

func writePolls(out io.Writer, ps []loam.Poll) error {
	if len(ps) == 0 {
		_, err := fmt.Fprintln(out, "No polls on this space's board yet: create one in the web UI's Board ('loam ui').")
		return err
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "POLL\tQUESTION\tBALLOT\tSTATE\tVOTES\tLEADING")
	for _, p := range ps {
		lead := "-"
		if best := leading(p); best >= 0 {
			lead = fmt.Sprintf("%s (%d)", p.Options[best], p.Counts[best])
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\n", p.ID, p.Question, p.Ballot, pollState(p), p.Counted, lead)
	}
	return w.Flush()
}

// leading is the index of the option with the most votes (-1 without
// votes; the first of a tie).
func leading(p loam.Poll) int {
	best := -1
	for i, c := range p.Counts {
		if c > 0 && (best < 0 || c > p.Counts[best]) {
			best = i
		}
	}
	return best
}

func writePoll(out io.Writer, p loam.Poll) error {
	by := p.Name
	if by == "" {
		by = shortID(p.Author)
	}
	fmt.Fprintf(out, "%s\nby %s, %s ballot, %s\n\n", p.Question, by, p.Ballot, pollState(p))
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for i, o := range p.Options {
		var voters []string
		for _, v := range p.Votes {
			if v.Option == i {
				name := v.Name
				if name == "" {
					name = shortID(v.Person)
				}
				voters = append(voters, name)
			}
		}
		fmt.Fprintf(w, "  %s\t%d\t%s\n", o, p.Counts[i], strings.Join(voters, ", "))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nVerified from %d signed votes: %d counted", p.Signed, p.Counted)
	if p.Late > 0 {
		fmt.Fprintf(out, ", %d signed after the close", p.Late)
	}
	if p.Invalid > 0 {
		fmt.Fprintf(out, ", %d for no option", p.Invalid)
	}
	if p.Ignored > 0 {
		fmt.Fprintf(out, "; %d vote keys ignored (not signed by a device of the person they name)", p.Ignored)
	}
	_, err := fmt.Fprintf(out, ".\nRule: %s.\n", p.Rule)
	return err
}
