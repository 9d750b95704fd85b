package loam

import (
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/api"
)

// The public types that mirror the API's wire types (docs/design.md, "The
// front door") declare one concept twice, because the public one cannot be
// the API's (a name users cannot import in its godoc, or an import cycle).
// What keeps them one concept is tested here: each public type has the
// API's JSON names, nested types and all, and its conversion from the
// API's form (the one road, embedded and through a daemon) carries every
// field. Where the fields match one for one the conversion is a Go
// conversion and the compiler checks the rest.

// mirrors lists each public mirror with a converter from a pointer to the
// API's value.
var mirrors = []struct {
	name string
	api  any // a pointer to a zero value of the API's type
	conv func(any) any
}{
	{"Poll", &api.Poll{}, func(v any) any { return pollOf(*v.(*api.Poll)) }},
	{"Ledger", &api.Ledger{}, func(v any) any { return ledgerOf(*v.(*api.Ledger)) }},
	{"StatementLine", &api.StatementLine{}, func(v any) any { return StatementLine(*v.(*api.StatementLine)) }},
	{"DiskUsage", &api.DiskUsage{}, func(v any) any { return diskUsageOf(*v.(*api.DiskUsage)) }},
	{"Member", &api.Member{}, func(v any) any { return memberOf(*v.(*api.Member)) }},
	{"Revoked", &api.RevokeResponse{}, func(v any) any { return revokedOf(*v.(*api.RevokeResponse)) }},
	{"Identity", &api.Identity{}, func(v any) any { return identityOf(*v.(*api.Identity)) }},
	{"Device", &api.Device{}, func(v any) any { return devicesOf([]api.Device{*v.(*api.Device)})[0] }},
	{"RevokedDevice", &api.RevokeDeviceResponse{}, func(v any) any { return revokedDeviceOf(*v.(*api.RevokeDeviceResponse)) }},
	{"LinkTicket", &api.LinkTicket{}, func(v any) any { return LinkTicket(*v.(*api.LinkTicket)) }},
	{"Profile", &api.Profile{}, func(v any) any { return Profile(*v.(*api.Profile)) }},
	{"LeaveReport", &api.LeaveReport{}, func(v any) any { return leaveReportOf(*v.(*api.LeaveReport)) }},
}

// TestMirrorsHaveTheAPIsNames checks that a public mirror has exactly the
// JSON names of the API's type, at every depth: a field added on one side
// only fails here.
func TestMirrorsHaveTheAPIsNames(t *testing.T) {
	for _, m := range mirrors {
		want := jsonNames(reflect.TypeOf(m.api).Elem(), "", nil)
		got := jsonNames(reflect.TypeOf(m.conv(m.api)), "", nil)
		if !slices.Equal(got, want) {
			t.Errorf("%s: JSON names\n got %v\nwant %v (the API's)", m.name, got, want)
		}
	}
}

// TestMirrorsCarryEveryField fills every field of the API's value, each
// with a value of its own, and checks that the public value converted from
// it says the same in JSON: a field the conversion forgets, or two it
// swaps, fails here.
func TestMirrorsCarryEveryField(t *testing.T) {
	for _, m := range mirrors {
		var n int
		fill(reflect.ValueOf(m.api).Elem(), &n, nil)
		want, got := jsonValue(t, m.api), jsonValue(t, m.conv(m.api))
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: converted\n got %v\nwant %v (the API's)", m.name, got, want)
		}
	}
}

// jsonNames lists the JSON names of t's fields, those of nested structs
// as paths ("votes[].person") and those of embedded ones as its own,
// sorted. A type met again below itself
// (Member.Devices) is named once.
func jsonNames(t reflect.Type, prefix string, seen []string) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
		if prefix != "" {
			prefix += "[]"
		}
	}
	if t.Kind() != reflect.Struct || t == reflect.TypeFor[time.Time]() || slices.Contains(seen, t.Name()) {
		return nil
	}
	seen = append(seen, t.Name())
	var out []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if f.Anonymous && name == "" { // its fields are the struct's own in JSON
			out = append(out, jsonNames(f.Type, prefix, seen)...)
			continue
		}
		if name == "" {
			name = f.Name
		}
		if prefix != "" {
			name = prefix + "." + name
		}
		out = append(out, name)
		out = append(out, jsonNames(f.Type, name, seen)...)
	}
	slices.Sort(out)
	return out
}

// fill sets every exported field of v to a value no other field has (n
// counts them); slices get one element and pointers a value, but a
// struct nested in itself (Member.Devices) one level only: path holds
// the structs v is in.
func fill(v reflect.Value, n *int, path []reflect.Type) {
	*n++
	switch {
	case v.Type() == reflect.TypeFor[time.Time]():
		v.Set(reflect.ValueOf(time.Date(2026, 1, 2, 3, 4, *n, 0, time.UTC)))
	case v.Kind() == reflect.String:
		v.SetString("v" + strconv.Itoa(*n))
	case v.Kind() == reflect.Bool:
		v.SetBool(true)
	case v.CanInt():
		v.SetInt(int64(*n))
	case v.CanUint():
		v.SetUint(uint64(*n))
	case v.Kind() == reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), n, path)
	case v.Kind() == reflect.Slice && nested(path, v.Type().Elem()) < 2:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0), n, path)
	case v.Kind() == reflect.Struct:
		path = append(path, v.Type())
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), n, path)
			}
		}
	}
}

// nested counts the structs of type t in path.
func nested(path []reflect.Type, t reflect.Type) int {
	n := 0
	for _, p := range path {
		if p == t {
			n++
		}
	}
	return n
}

// jsonValue is v as JSON, decoded again: objects are maps, so the order
// of the fields does not count.
func jsonValue(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
