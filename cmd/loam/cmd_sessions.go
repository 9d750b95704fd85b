package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam/internal/api"
)

func newSessionsCmd(g *globalOptions) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "sessions",
		Short: "List the browser sessions of the web UI; revoke one",
		Long: `List the browsers logged in to this node's web UI: those paired on the
home network ('loam pair') and those logged in on this machine with a
login link ('loam ui'). Each session has a name, when it was made, when it
was last used and from which address. Sessions survive daemon restarts
and end when revoked or unused for 90 days. It needs the daemon.`,
		Example: `  loam sessions
  loam sessions revoke "Ana's phone"`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, ss, err := askDaemon(cmd, g, (*api.Client).Sessions)
			if err != nil {
				return err
			}
			return printResult(cmd, jsonOut, ss, func(out io.Writer) error {
				if len(ss) == 0 {
					_, err := fmt.Fprintln(out, "No browser sessions. 'loam pair' pairs a phone; 'loam ui' logs in a browser here.")
					return err
				}
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tCREATED\tLAST USED\tADDRESS\tVIA")
				for _, s := range ss {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Name, localTime(s.Created), localTime(s.LastUsed), s.Addr, s.Via)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, `print the sessions as JSON: [{"name", "created", "last_used", "addr", "via"}]`)
	cmd.AddCommand(newSessionsRevokeCmd(g))
	return cmd
}

func newSessionsRevokeCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke NAME",
		Short: "End a browser session now",
		Long: `End the browser session named NAME ('loam sessions' lists them): its next
request is refused, and the page says it was revoked and how to pair
again.`,
		Example: `  loam sessions revoke "Ana's phone"`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, _, err := askDaemon(cmd, g, func(c *api.Client, ctx context.Context) (struct{}, error) {
				return struct{}{}, c.RevokeSession(ctx, args[0])
			})
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Revoked the session %q.\n", args[0])
			return err
		},
	}
}

// localTime shows an RFC 3339 time in local time, to the minute.
func localTime(s string) string {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return s
	}
	return t.Local().Format("2006-01-02 15:04")
}
