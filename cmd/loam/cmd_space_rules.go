package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/loamdb/loam"
	"github.com/loamdb/loam/internal/api"
)

// maxRulesFile bounds a rules file: a body is at most 64 KiB.
const maxRulesFile = 128 << 10

func newSpaceRulesCmd(g *globalOptions) *cobra.Command {
	var (
		jsonOut bool
		apps    []string
	)
	cmd := &cobra.Command{
		Use:   "rules SPACE [FILE|-]",
		Short: "Show or declare the app rules every replica enforces",
		Long: `Show the app rules in force in SPACE, or declare an app's rules (admins).

An app's rules say, per key pattern under the app's prefix, who may write the
key (anyone the grants allow, only the member the key names, or admins) and a
JSON Schema its values must meet. Every replica enforces them: a write that
breaks one is refused here, and counts nowhere if another node makes it.
docs/apps.md lists the rules of the apps Loam ships.

  --app chat,tools,profile   declare the rules Loam ships for these apps
                             (chat, tools, profile, board, energy)
  FILE (or - for stdin)      declare the rules in FILE:
                             {"app": "board", "version": 2, "body": {"prefix": "board/", "rules": [...]}}
                             (version left out: the next one; a body {} retires the app's rules)

A declaration applies to the writes made after it; what was written before
stays as it was. A version not newer than the one in force is refused, unless
it is the very declaration in force (then this says so, and exits 0).`,
		Example: `  loam space rules garden-club
  loam space rules garden-club --app chat,tools,profile
  loam space rules garden-club board-rules.json --json`,
		Args: argsBetween(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var declare []loam.AppRules
			for _, a := range apps {
				r, ok := loam.BuiltinRules(strings.TrimSpace(a))
				if !ok {
					return usageErrorf(cmd, "--app %q: Loam ships the rules of %s; declare others from a FILE", a, strings.Join(loam.BuiltinApps(), ", "))
				}
				declare = append(declare, r)
			}
			if len(args) == 2 {
				r, err := readRulesFile(cmd, args[1])
				if err != nil {
					return err
				}
				declare = append(declare, r)
			}
			return withSpace(cmd, g, args[0], func(_ *loam.Node, sp *loam.Space) error {
				out := api.RulesList{Apps: []api.RulesBody{}}
				if len(declare) == 0 {
					rs, err := sp.Rules(ctx)
					if err != nil {
						return err
					}
					for _, r := range rs {
						out.Apps = append(out.Apps, rulesBody(r))
					}
					if jsonOut {
						return writeJSON(cmd.OutOrStdout(), out)
					}
					if len(rs) == 0 {
						fmt.Fprintf(cmd.OutOrStdout(), "%s: no app rules (declare the apps' with: loam space rules %s --app %s)\n", sp.Name(), sp.Name(), strings.Join(loam.BuiltinApps(), ","))
					}
					for _, r := range rs {
						fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", sp.Name(), describeRules(r))
					}
					return nil
				}
				inForce, err := sp.Rules(ctx)
				if err != nil {
					return err
				}
				for _, r := range declare {
					if cur, ok := sameInForce(inForce, r); ok {
						// Asking again for what is in force is not a
						// failure: the rules asked for are the rules.
						out.Apps = append(out.Apps, rulesBody(cur))
						if !jsonOut {
							fmt.Fprintf(cmd.OutOrStdout(), "%s: app %s, version %d is in force already\n", sp.Name(), cur.App, cur.Version)
						}
						continue
					}
					got, err := sp.DeclareRules(ctx, r)
					if err != nil {
						return err
					}
					out.Apps = append(out.Apps, rulesBody(got))
					if !jsonOut {
						fmt.Fprintf(cmd.OutOrStdout(), "%s: declared %s\n", sp.Name(), describeRules(got))
					}
				}
				if jsonOut {
					return writeJSON(cmd.OutOrStdout(), out)
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, `print {"apps": [{"app", "version", "body"}]} as JSON`)
	cmd.Flags().StringSliceVar(&apps, "app", nil, "declare the rules Loam ships for these apps: "+strings.Join(loam.BuiltinApps(), ", "))
	return cmd
}

// readRulesFile reads a declaration, {"app", "version", "body"}, from
// path ("-": stdin).
func readRulesFile(cmd *cobra.Command, path string) (loam.AppRules, error) {
	var src io.Reader = cmd.InOrStdin()
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return loam.AppRules{}, err
		}
		defer f.Close()
		src = f
	}
	b, err := io.ReadAll(io.LimitReader(src, maxRulesFile+1))
	if err != nil {
		return loam.AppRules{}, err
	}
	if len(b) > maxRulesFile {
		return loam.AppRules{}, fmt.Errorf("rules file %s is over %d KiB: an app's rules are at most 64 KiB", path, maxRulesFile>>10)
	}
	var rb api.RulesBody
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rb); err != nil {
		return loam.AppRules{}, fmt.Errorf("rules file %s: %v: want {\"app\": NAME, \"version\": N, \"body\": {\"prefix\": …, \"rules\": […]}}", path, err)
	}
	if rb.App == "" || len(rb.Body) == 0 {
		return loam.AppRules{}, fmt.Errorf("rules file %s: \"app\" and \"body\" are both needed (for the rules Loam ships, use --app)", path)
	}
	return loam.AppRules{App: rb.App, Version: rb.Version, Body: rb.Body}, nil
}

// sameInForce returns the declaration in force that r asks for again: the
// same app and version, with the same body (compared compacted, as it is
// signed).
func sameInForce(inForce []loam.AppRules, r loam.AppRules) (loam.AppRules, bool) {
	if r.Version == 0 {
		return loam.AppRules{}, false // the next version: never in force yet
	}
	var want bytes.Buffer
	if err := json.Compact(&want, r.Body); err != nil {
		return loam.AppRules{}, false
	}
	for _, cur := range inForce {
		var got bytes.Buffer
		if cur.App == r.App && cur.Version == r.Version && json.Compact(&got, cur.Body) == nil && bytes.Equal(got.Bytes(), want.Bytes()) {
			return cur, true
		}
	}
	return loam.AppRules{}, false
}

func rulesBody(r loam.AppRules) api.RulesBody {
	return api.RulesBody{App: r.App, Version: r.Version, Body: r.Body}
}

// describeRules says in one line what an app's rules cover.
func describeRules(r loam.AppRules) string {
	var b struct {
		Prefix string            `json:"prefix"`
		Rules  []json.RawMessage `json:"rules"`
	}
	_ = json.Unmarshal(r.Body, &b) // a body that does not decode was refused; at worst this says less
	if len(b.Rules) == 0 {
		return fmt.Sprintf("app %s, version %d: retired (no rules)", r.App, r.Version)
	}
	s := fmt.Sprintf("app %s, version %d: %d rules", r.App, r.Version, len(b.Rules))
	if b.Prefix != "" {
		s += fmt.Sprintf(", closed prefix %q", b.Prefix)
	}
	return s
}
