// Command loam is the command-line tool of Loam, a peer-to-peer database for
// local-first community apps.
//
// Each subcommand lives in its own file, cmd_<verb>.go. This package holds
// flags, wiring and signals only: the work is done by the public API of
// package loam, by internal/node and by internal/api.
//
// Only one process at a time may open the store of a Loam home (--home,
// $LOAM_HOME, or ~/.loam). 'loam daemon' holds it while it runs and serves
// the local HTTP API (internal/api); it writes daemon.json in the home to
// say where. Every data command goes through a backend (backend.go): the
// daemon's API when daemon.json names a daemon that answers, else the store
// opened directly, which works offline. peers, status and invite need the
// daemon.
//
// Output meant for programs goes to stdout (with --json wherever the output
// is data); messages for people go to stderr. An error is one line on stderr
// starting "loam: " (and, with --json, the API's error body on stdout). Exit codes: 0 success, 1 error, 2 usage error (wrong
// arguments or flags), 130 interrupted (SIGINT or SIGTERM).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam"
	"github.com/loamdb/loam/internal/api"
	"github.com/loamdb/loam/internal/version"
)

// Exit codes.
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitInterrupted = 130
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes the command line args and returns the exit code. SIGINT and
// SIGTERM cancel the command's context; a second signal kills the process.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // restore the default handlers: a second Ctrl-C kills
	}()

	root := newRootCmd()
	out := &wroteWriter{w: stdout}
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(out)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		var ie *interruptedError
		if errors.As(err, &ie) {
			fmt.Fprintln(stderr, errorLine(ie))
		} else {
			fmt.Fprintln(stderr, "loam: interrupted")
		}
		return exitInterrupted
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "%s; run '%s --help'\n", errorLine(ue.err), ue.cmd.CommandPath())
		return exitUsage
	}
	if cmd != nil && isCobraUsage(err) {
		fmt.Fprintf(stderr, "%s; run '%s --help'\n", errorLine(err), cmd.CommandPath())
		return exitUsage
	}
	fmt.Fprintln(stderr, errorLine(err))
	if out.n == 0 { // a command that printed its data before failing (status) keeps it alone
		jsonError(cmd, stdout, err)
	}
	return exitError
}

// wroteWriter counts the bytes written through it.
type wroteWriter struct {
	w io.Writer
	n int64
}

func (c *wroteWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// jsonError prints err on stdout as the API's error body, {"error",
// "code"}, when the command was asked for --json: a program reading its
// output learns the kind of the failure ("sealed", "not_found", …), not
// only that it failed. The one line on stderr and the exit code stay.
func jsonError(cmd *cobra.Command, stdout io.Writer, err error) {
	if cmd == nil {
		return
	}
	f := cmd.Flags().Lookup("json")
	if f == nil || f.Value.String() != "true" {
		return
	}
	b, _ := json.Marshal(api.ErrorBody{Error: strings.TrimPrefix(errorLine(err), "loam: "), Code: api.Code(err)})
	fmt.Fprintf(stdout, "%s\n", b)
}

// errorLine formats err as the one line printed for it: "loam: " and the
// message, without the "loam: " the API puts in front of some of its
// errors, and without line breaks.
func errorLine(err error) string {
	msg := strings.TrimPrefix(err.Error(), "loam: ")
	msg = strings.ReplaceAll(msg, ": loam: ", ": ")
	msg = strings.Join(strings.Fields(msg), " ")
	return "loam: " + msg
}

// globalOptions are the flags every command has.
type globalOptions struct {
	home string // --home; empty means loam.DefaultHome()
}

// homeDir returns the Loam home the command works on.
func (g *globalOptions) homeDir() string {
	if g.home == "" {
		return loam.DefaultHome()
	}
	return g.home
}

func newRootCmd() *cobra.Command {
	g := &globalOptions{}
	root := &cobra.Command{
		Use:   "loam",
		Short: "Loam is a peer-to-peer database for local-first community apps",
		Long: `Loam is a peer-to-peer database for local-first community apps.

Every device keeps its own full copy of the spaces it belongs to: shared
key-value databases in which every write is a signed, hash-chained commit.
This tool creates spaces, reads and writes keys, streams changes and checks
history. 'loam daemon' runs the node that syncs spaces with peers; while
it runs, the other commands work through it, and otherwise on the store in
the Loam home directly.

SPACE, wherever a command takes one, is a space ID (spc_…) or the space's
local name. Commands whose output is data take --json; with it, a failure
is also printed on stdout as {"error", "code"}, the code naming its kind
("sealed", "not_found", …) as the API's error bodies do (docs/api.md).`,
		Example: `  loam demo                                  # a guided tour in a temporary home
  loam init
  loam space create garden-club
  loam put garden-club shed/drill 'cordless, 18V'
  loam get garden-club shed/drill
  loam daemon &                              # sync with peers
  loam invite garden-club                    # a ticket for another device's 'loam join'`,
		Args:          noSubcommand,
		RunE:          showHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.CompletionOptions.DisableDefaultCmd = true // newCompletionCmd instead: bash, zsh and fish
	root.Version = versionLine(version.Get())
	root.SetVersionTemplate("loam {{.Version}}\n")
	root.PersistentFlags().StringVar(&g.home, "home", "",
		"the Loam home `DIR` (default: $LOAM_HOME, or ~/.loam)")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &usageError{cmd: cmd, err: err}
	})

	root.AddCommand(
		newInitCmd(g),
		newSpaceCmd(g),
		newPutCmd(g),
		newGetCmd(g),
		newDelCmd(g),
		newEraseCmd(g),
		newLsCmd(g),
		newWatchCmd(g),
		newImportCmd(g),
		newExportCmd(g),
		newBackupCmd(g),
		newLogCmd(g),
		newDaemonCmd(g),
		newInviteCmd(g),
		newJoinCmd(g),
		newSeedCmd(g),
		newMembersCmd(g),
		newPollCmd(g),
		newRevokeCmd(g),
		newIDCmd(g), newGrantCmd(g), newDeviceCmd(g),
		newPeersCmd(g),
		newStatusCmd(g), newCompactCmd(g),
		newUICmd(g), newPairCmd(g), newSessionsCmd(g),
		newBlobCmd(g),
		newEnergyCmd(g),
		newDoctorCmd(g),
		newBootstrapCmd(g),
		newDemoCmd(),
		newVersionCmd(),
		newCompletionCmd(),
	)
	suggestSubcommands(root)
	return root
}

// usageError is a mistake in the command line: exit code 2 and a pointer
// to the command's help.
type usageError struct {
	cmd *cobra.Command
	err error
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usageErrorf(cmd *cobra.Command, format string, args ...any) error {
	return &usageError{cmd: cmd, err: fmt.Errorf(format, args...)}
}

// interruptedError is a command stopped by a signal that has more to say
// than "interrupted", such as how far it got.
type interruptedError struct {
	msg string
	err error // wraps context.Canceled
}

func (e *interruptedError) Error() string { return e.msg }
func (e *interruptedError) Unwrap() error { return e.err }

// isCobraUsage reports whether err is one of the few usage errors cobra
// makes itself, outside the hooks this package installs.
func isCobraUsage(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "unknown command ") || strings.HasPrefix(msg, "unknown flag") ||
		strings.HasPrefix(msg, "unknown shorthand flag")
}

// suggestSubcommands makes every command that groups subcommands, c and
// those below it, refuse an argument as a mistyped subcommand, naming the
// closest one (cobra's suggestions: within two edits, or a prefix).
// A command that also takes arguments of its own ('loam energy SPACE')
// says so with the annotation ownArgs.
func suggestSubcommands(c *cobra.Command) {
	if c.HasSubCommands() && c.Annotations[ownArgs] == "" {
		c.Args = noSubcommand
		c.SuggestionsMinimumDistance = 2 // SuggestionsFor's own default is 0: prefixes only
	}
	for _, sub := range c.Commands() {
		suggestSubcommands(sub)
	}
}

// ownArgs annotates a command with subcommands that takes arguments too.
const ownArgs = "loam-own-args"

// noSubcommand is the Args of a command that only groups subcommands: an
// argument there is a subcommand name that does not exist.
func noSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	hint := ""
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		hint = fmt.Sprintf(" (did you mean %q?)", closest(args[0], s))
	}
	return usageErrorf(cmd, "unknown command %q for %q%s", args[0], cmd.CommandPath(), hint)
}

// closest returns the name in names (not empty) the user most likely
// meant by typed: one it is a prefix of, else the fewest edits away, a
// swap of two neighbouring letters counting as one edit.
func closest(typed string, names []string) string {
	best, bestD := names[0], math.MaxInt
	for _, name := range names {
		d := editDistance(typed, name)
		if strings.HasPrefix(name, typed) {
			d = -1
		}
		if d < bestD {
			best, bestD = name, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b:
// the insertions, deletions, substitutions and swaps of neighbours that
// turn one into the other.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// showHelp is the RunE of a command that only groups subcommands.
func showHelp(cmd *cobra.Command, _ []string) error { return cmd.Help() }

// argsBetween accepts min to max positional arguments (max < 0: no upper
// bound), and otherwise names what the command wants.
func argsBetween(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		want := strings.TrimSpace(strings.TrimPrefix(cmd.Use, cmd.Name()))
		switch {
		case len(args) < min:
			return usageErrorf(cmd, "missing arguments: %s wants %s", cmd.CommandPath(), want)
		case max >= 0 && len(args) > max:
			if max == 0 {
				return usageErrorf(cmd, "unexpected argument %q: %s takes none", args[max], cmd.CommandPath())
			}
			return usageErrorf(cmd, "unexpected argument %q: %s wants %s", args[max], cmd.CommandPath(), want)
		}
		return nil
	}
}

func exactArgs(n int) cobra.PositionalArgs { return argsBetween(n, n) }
