package loam

import (
	"context"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/schema"
)

// AppRules are one app's rules in a space (#15, docs/apps.md "App
// rules"): per key pattern under the app's prefix, who may write the key
// and a JSON Schema its values must meet. Every replica enforces the
// rules in force in a write's causal past: a write that breaks one does
// not count anywhere.
type AppRules struct {
	App string
	// Version orders the declarations of one app: the greatest in force
	// wins. 0 in DeclareRules takes the version after the one in force.
	Version uint64
	// Body is the rules, a JSON object: {"prefix": "chat/", "rules":
	// [{"key": "chat/msg/{channel}/{ms}-{author}", "write": "named",
	// "value": {…}}]}. A body without rules retires the app's rules.
	Body []byte
}

// BuiltinRules returns the rules of an app Loam's web UI ships ("chat",
// "tools", "profile", "board", "energy"), and false for any other name.
func BuiltinRules(app string) (AppRules, bool) {
	for _, a := range schema.Apps {
		if a.Name == app {
			return AppRules{App: a.Name, Version: a.Version, Body: a.Body}, true
		}
	}
	return AppRules{}, false
}

// BuiltinApps names the apps BuiltinRules knows.
func BuiltinApps() []string {
	var out []string
	for _, a := range schema.Apps {
		out = append(out, a.Name)
	}
	return out
}

// DeclareRules declares an app's rules in the space; this device must be
// an admin (an error wrapping ErrReadOnly if not). A body that does not
// decode fails with ErrBadRules, a version not greater than the one in
// force with ErrRulesVersion. It returns what it declared. The rules apply
// to the writes made after them; what was written before stays as it was.
func (s *Space) DeclareRules(ctx context.Context, r AppRules) (AppRules, error) {
	if len(r.Body) == 0 {
		r.Body = []byte("{}") // retire: the same through a daemon, where a missing body means the shipped rules
	}
	sc, err := s.impl.declareRules(ctx, commit.Schema{App: r.App, Version: r.Version, Body: r.Body})
	return AppRules{App: sc.App, Version: sc.Version, Body: sc.Body}, err
}

// Rules returns the app rules in force in the space (for this device's
// next write), by app.
func (s *Space) Rules(ctx context.Context) ([]AppRules, error) {
	scs, err := s.impl.rules(ctx)
	var out []AppRules
	for _, sc := range scs {
		out = append(out, AppRules{App: sc.App, Version: sc.Version, Body: sc.Body})
	}
	return out, err
}
