package main

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// day is the unit "d" of durations on the command line.
const day = 24 * time.Hour

// errDurationSyntax is the error of a duration parseDuration cannot read.
var errDurationSyntax = errors.New("want a duration such as 90s, 30m, 12h, 3d or 1d12h (0: none)")

// parseDuration parses a duration as time.ParseDuration does (90s, 1h30m,
// 1.5h), and with days: a leading count of days with the unit d, alone or
// followed by the other units (3d, 1.5d, 1d12h). A day is 24 hours. A
// negative duration is refused: no flag takes one. Every duration flag of
// loam is read by it (durationVar).
func parseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "-") {
		return 0, errors.New("a duration must not be negative")
	}
	t = strings.TrimPrefix(t, "+")
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	var days time.Duration
	if i > 0 && i < len(t) && t[i] == 'd' {
		n, err := strconv.ParseFloat(t[:i], 64)
		if err != nil || math.IsInf(n, 0) {
			return 0, errDurationSyntax
		}
		if n*float64(day) >= math.MaxInt64 {
			return 0, fmt.Errorf("%s is too long: at most %dd", t[:i+1], int64(math.MaxInt64/int64(day)))
		}
		days = time.Duration(n * float64(day))
		if t = t[i+1:]; t == "" {
			return days, nil
		}
		if t[0] < '0' || t[0] > '9' && t[0] != '.' {
			return 0, errDurationSyntax // a sign, or a unit without a number
		}
	}
	rest, err := time.ParseDuration(t)
	if err != nil {
		if strings.Contains(t, "d") {
			return 0, fmt.Errorf("%w; days come first (1d12h, not 12h1d)", errDurationSyntax)
		}
		return 0, errDurationSyntax
	}
	if days > math.MaxInt64-rest {
		return 0, errors.New("too long")
	}
	return days + rest, nil
}

// formatDuration writes d as parseDuration reads it, shortly: 3d, 1d12h,
// 1h30m, 10m, 0.
func formatDuration(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	var b strings.Builder
	if d < 0 {
		b.WriteString("-")
		d = -d
	}
	if days := d / day; days > 0 {
		fmt.Fprintf(&b, "%dd", days)
		if d %= day; d == 0 {
			return b.String()
		}
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	b.WriteString(s)
	return b.String()
}

// durationValue is a time.Duration flag read by parseDuration.
type durationValue time.Duration

func (v *durationValue) Set(s string) error {
	d, err := parseDuration(s)
	if err != nil {
		return err
	}
	*v = durationValue(d)
	return nil
}

func (v *durationValue) String() string { return formatDuration(time.Duration(*v)) }
func (v *durationValue) Type() string   { return "duration" }

// durationVar defines a duration flag that accepts days (see
// parseDuration), as pflag's DurationVar does otherwise.
func durationVar(f *pflag.FlagSet, p *time.Duration, name string, def time.Duration, usage string) {
	*p = def
	f.Var((*durationValue)(p), name, usage)
}
