package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// maxReasons bounds the reasons one violation lists.
const maxReasons = 3

// inWords says why a value does not fit its schema, as sentences naming
// the fields, not the validator's report ("jsonschema validation failed
// with 'loam:value.json#' - at '/options': minItems: got 1, want 2"
// becomes `field "options" has 1 item, and needs at least 2`).
func inWords(err error) string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return oneLine(err.Error())
	}
	var leaves []*jsonschema.ValidationError
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			leaves = append(leaves, e)
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	var out []string
	for _, l := range leaves {
		s := leafWords(l)
		if s == "" || contains(out, s) {
			continue
		}
		if len(out) == maxReasons {
			out = append(out, "and more")
			break
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return "it does not match the app's JSON Schema"
	}
	return strings.Join(out, "; ")
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// leafWords says one reason, naming where in the value it is.
func leafWords(e *jsonschema.ValidationError) string {
	where := "the value"
	if len(e.InstanceLocation) > 0 {
		where = fmt.Sprintf("field %q", strings.Join(e.InstanceLocation, "."))
	}
	switch k := e.ErrorKind.(type) {
	case *kind.Required:
		names := make([]string, len(k.Missing))
		for i, m := range k.Missing {
			names[i] = fmt.Sprintf("%q", m)
		}
		if len(e.InstanceLocation) == 0 {
			return fmt.Sprintf("field %s is missing", strings.Join(names, ", "))
		}
		return fmt.Sprintf("%s lacks field %s", where, strings.Join(names, ", "))
	case *kind.Type:
		return fmt.Sprintf("%s is %s, and must be %s", where, article(k.Got), strings.Join(articles(k.Want), " or "))
	case *kind.Enum:
		return fmt.Sprintf("%s is %s, and must be one of %s", where, show(k.Got), showAll(k.Want))
	case *kind.Const:
		return fmt.Sprintf("%s is %s, and must be %s", where, show(k.Got), show(k.Want))
	case *kind.MinLength:
		return fmt.Sprintf("%s has %d characters, and needs at least %d", where, k.Got, k.Want)
	case *kind.MaxLength:
		return fmt.Sprintf("%s has %d characters, at most %d allowed", where, k.Got, k.Want)
	case *kind.MinItems:
		return fmt.Sprintf("%s has %d items, and needs at least %d", where, k.Got, k.Want)
	case *kind.MaxItems:
		return fmt.Sprintf("%s has %d items, at most %d allowed", where, k.Got, k.Want)
	case *kind.Minimum:
		return fmt.Sprintf("%s is %s, and must be at least %s", where, num(k.Got), num(k.Want))
	case *kind.Maximum:
		return fmt.Sprintf("%s is %s, and must be at most %s", where, num(k.Got), num(k.Want))
	case *kind.ExclusiveMinimum:
		return fmt.Sprintf("%s is %s, and must be more than %s", where, num(k.Got), num(k.Want))
	case *kind.ExclusiveMaximum:
		return fmt.Sprintf("%s is %s, and must be less than %s", where, num(k.Got), num(k.Want))
	case *kind.AdditionalProperties:
		return fmt.Sprintf("%s has fields the layout does not allow: %s", where, strings.Join(k.Properties, ", "))
	case *kind.Pattern:
		return fmt.Sprintf("%s does not match the pattern %s", where, k.Want)
	case *kind.FalseSchema:
		return where + " is not allowed"
	}
	// Any other keyword: the validator's words for it, after the place.
	msg := (&jsonschema.ValidationError{ErrorKind: e.ErrorKind}).Error()
	if i := strings.Index(msg, ": "); i >= 0 && strings.HasPrefix(msg, "at ") {
		msg = msg[i+2:]
	}
	return where + ": " + oneLine(msg)
}

func article(t string) string {
	switch t {
	case "object", "array", "integer":
		return "an " + t
	case "null":
		return "null"
	}
	return "a " + t
}

func articles(ts []string) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = article(t)
	}
	return out
}

// show renders a JSON value briefly.
func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 40 {
		return string(b[:37]) + "…"
	}
	return string(b)
}

func showAll(vs []any) string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = show(v)
	}
	return strings.Join(out, ", ")
}

func num(r *big.Rat) string {
	if r == nil {
		return "?"
	}
	if r.IsInt() {
		return r.Num().String()
	}
	return r.FloatString(3)
}
