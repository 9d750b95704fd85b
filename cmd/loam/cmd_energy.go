package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam"
	"github.com/loamdb/loam/internal/api"
)

func newEnergyCmd(g *globalOptions) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "energy SPACE",
		Short: "Show the energy exchange's balances and transfers",
		Long: `Show the energy exchange's mutual-credit ledger in SPACE (docs/apps.md,
"Energy exchange"): every member's balance in kWh and how far below zero it
may go (their limit, set by admins), then the transfers with what became of
them: waiting for the receiver's confirmation, confirmed, refused past the
giver's limit, or void because the giver signed two different transfers as
one (the giver is then shown as forked, with the evidence).

A transfer is written by its giver and counts once its receiver confirms
it; balances come from confirmed transfers only, so they sum to zero. The
ledger is computed from the entries held here: one made on a device this
one has not synced with yet is not in it.`,
		Example: `  loam energy garden-club
  loam energy garden-club --json
  loam energy statement garden-club --csv > statement.csv`,
		Args:        exactArgs(1),
		Annotations: map[string]string{ownArgs: "SPACE"},
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := askSpace(cmd, g, args[0], (*loam.Space).Ledger)
			if err != nil {
				return err
			}
			return printResult(cmd, jsonOut, l, func(w io.Writer) error { return writeLedger(w, l) })
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, `print {"accounts": [{"member", "name", "balance_milli", "limit_milli", "admin", "forked"}], "transfers": [{"key", "id", "from", "from_name", "to", "to_name", "milli", "note", "at", "confirmed_at", "status"}], "default_limit_milli", "ignored"} as JSON (amounts in thousandths of a kWh)`)
	cmd.AddCommand(newEnergyStatementCmd(g))
	return cmd
}

func newEnergyStatementCmd(g *globalOptions) *cobra.Command {
	var csvOut, jsonOut bool
	cmd := &cobra.Command{
		Use:   "statement SPACE [PERSON]",
		Short: "Print a member's energy statement",
		Long: `Print the statement of PERSON in SPACE's energy exchange: every transfer
to or from them, oldest first, with the date (when it was confirmed, or
signed while it waits), the counterparty, kWh in and out, the balance after
it (only confirmed transfers move it), the note and the status.

PERSON is a person's identity (idt_…), a device's author ID (aut_…) or a
profile name as 'loam energy SPACE' shows it; left out, this device's
person (or this device, without an identity).`,
		Example: `  loam energy statement garden-club
  loam energy statement garden-club Ana --csv > ana.csv`,
		Args: argsBetween(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if csvOut && jsonOut {
				return usageErrorf(cmd, "--csv and --json: choose one")
			}
			return withSpace(cmd, g, args[0], func(n *loam.Node, sp *loam.Space) error {
				ctx := cmd.Context()
				l, err := sp.Ledger(ctx)
				if err != nil {
					return err
				}
				who := ""
				if len(args) == 2 {
					if who, err = ledgerMember(l, args[1]); err != nil {
						return err
					}
				} else if id, err := n.Identity(ctx); err == nil {
					who = id.ID
				} else if errors.Is(err, loam.ErrNoIdentity) {
					who = n.Author()
				} else {
					return err
				}
				lines, err := sp.Statement(ctx, who)
				if err != nil {
					return err
				}
				w := cmd.OutOrStdout()
				switch {
				case csvOut:
					return loam.WriteStatementCSV(w, lines)
				case jsonOut:
					if lines == nil {
						lines = []loam.StatementLine{}
					}
					return writeJSON(w, lines)
				}
				return writeStatement(w, lines)
			})
		},
	}
	cmd.Flags().BoolVar(&csvOut, "csv", false, "print CSV with a header row: date,counterparty,kwh_in,kwh_out,balance_kwh,note,status")
	cmd.Flags().BoolVar(&jsonOut, "json", false, `print [{"date", "counterparty", "name", "in_milli", "out_milli", "balance_milli", "note", "status"}] as JSON`)
	return cmd
}

// ledgerMember finds the account arg names: by ID, or by profile name
// (case-insensitive; it must be one person's).
func ledgerMember(l loam.Ledger, arg string) (string, error) {
	if strings.HasPrefix(arg, "idt_") || strings.HasPrefix(arg, "aut_") {
		return arg, nil
	}
	var found []string
	for _, a := range l.Accounts {
		if strings.EqualFold(a.Name, arg) {
			found = append(found, a.Member)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return "", fmt.Errorf("no member of this space is called %q: name them by ID (idt_… or aut_…) or by a name 'loam energy SPACE' shows", arg)
	}
	return "", fmt.Errorf("%d members are called %q: name the one you mean by ID (%s)", len(found), arg, strings.Join(found, ", "))
}

// memberName is a member's profile name, or its short ID without one.
func memberName(name, id string) string {
	if name != "" {
		return name
	}
	return shortID(id)
}

// transferStatusText says a transfer's status in words.
func transferStatusText(s string) string {
	switch s {
	case loam.TransferWaiting:
		return "waiting for confirmation"
	case loam.TransferConfirmed:
		return "confirmed"
	case loam.TransferPastLimit:
		return "refused: past the giver's limit"
	case loam.TransferEquivocated:
		return "void: the giver signed two different transfers as one"
	case loam.TransferInvalid:
		return "void: to the giver, or of no amount"
	}
	return s
}

// writeLedger writes the balances and transfers of 'loam energy'.
func writeLedger(out io.Writer, l loam.Ledger) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "MEMBER\tBALANCE (kWh)\tLIMIT (kWh)\tNOTE")
	for _, a := range l.Accounts {
		var notes []string
		if a.Admin {
			notes = append(notes, "admin")
		}
		for _, f := range a.Forked {
			notes = append(notes, "FORKED: "+f.Evidence)
		}
		fmt.Fprintf(w, "%s\t%s\t-%s\t%s\n", memberName(a.Name, a.Member), api.KWh(a.Balance), api.KWh(a.Limit), strings.Join(notes, "; "))
	}
	if len(l.Transfers) > 0 {
		fmt.Fprintln(w, "\nSIGNED\tFROM\tTO\tkWh\tSTATUS\tNOTE")
		for _, t := range l.Transfers {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", t.At.Local().Format(time.DateTime), memberName(t.FromName, t.From), memberName(t.ToName, t.To), api.KWh(t.Milli), transferStatusText(t.Status), oneLine(t.Note))
		}
	}
	if l.Ignored > 0 {
		fmt.Fprintf(w, "\n%d entries under energy/ break the app's rules and do not count.\n", l.Ignored)
	}
	return w.Flush()
}

// writeStatement writes a statement as a table.
func writeStatement(out io.Writer, lines []loam.StatementLine) error {
	if len(lines) == 0 {
		_, err := fmt.Fprintln(out, "no transfers to or from this member yet")
		return err
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "DATE\tCOUNTERPARTY\tIN (kWh)\tOUT (kWh)\tBALANCE (kWh)\tSTATUS\tNOTE")
	for _, l := range lines {
		in, o := "", ""
		if l.In != 0 {
			in = api.KWh(l.In)
		}
		if l.Out != 0 {
			o = api.KWh(l.Out)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.Date.Local().Format(time.DateTime), memberName(l.Name, l.Counterparty), in, o, api.KWh(l.Balance), transferStatusText(l.Status), oneLine(l.Note))
	}
	return w.Flush()
}

// oneLine keeps a note on one line of a table.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
