package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam/internal/version"
)

func newVersionCmd() *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of loam and the commit it was built from",
		Long: `Print the version of the Loam module this loam was built from, the commit
(with its time, and whether the work tree had uncommitted changes) and the
Go version that built it, as recorded in the binary. A loam installed with
'go install github.com/loamdb/loam/cmd/loam@v1.2.3' says v1.2.3; one built
in a git clone says the pseudo-version Go derives from the commit; one
built without version control information says devel. Peers see the same
version: a daemon announces itself to them as loam/VERSION.

With --json, print {"version", "commit", "commit_time", "dirty", "go"}
(commit and commit_time are left out when unknown).`,
		Example: `  loam version
  loam --version
  loam version --json | jq -r .commit`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := version.Get()
			return printResult(cmd, jsonOut, v, func(w io.Writer) error {
				_, err := fmt.Fprint(w, versionText(v))
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}

// versionText is the plain output of 'loam version'.
func versionText(v version.Info) string {
	var b strings.Builder
	fmt.Fprintf(&b, "loam %s\n", v.Version)
	switch {
	case v.Commit == "":
		b.WriteString("commit  unknown (built without version control information)\n")
	default:
		fmt.Fprintf(&b, "commit  %s", v.Commit)
		var notes []string
		if !v.CommitTime.IsZero() {
			notes = append(notes, v.CommitTime.UTC().Format("2006-01-02 15:04:05 UTC"))
		}
		if v.Dirty {
			notes = append(notes, "with uncommitted changes")
		}
		if len(notes) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(notes, ", "))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "go      %s\n", v.GoVersion)
	return b.String()
}

// versionLine is what 'loam --version' prints after "loam ": the version,
// and the commit when known.
func versionLine(v version.Info) string {
	s := v.Version
	if v.Commit != "" {
		c := v.Commit[:min(12, len(v.Commit))]
		if v.Dirty {
			c += ", dirty"
		}
		s += " (commit " + c + ")"
	}
	return s
}
