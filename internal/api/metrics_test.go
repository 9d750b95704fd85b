package api

import (
	"bufio"
	"bytes"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	metricName = `[a-zA-Z_:][a-zA-Z0-9_:]*`
	helpLine   = regexp.MustCompile(`^# HELP (` + metricName + `) \S.*$`)
	typeLine   = regexp.MustCompile(`^# TYPE (` + metricName + `) (counter|gauge|histogram|summary|untyped)$`)
	sampleLine = regexp.MustCompile(`^(` + metricName + `)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*\})? (\S+)$`)
)

// scrape reads f's /metrics and parses it strictly as the Prometheus text
// format: every sample follows the HELP and TYPE lines of its metric, each
// metric is described once, counters end in _total, values are numbers.
// It returns the samples by name and labels, e.g. `loam_peers{type="direct"}`.
func scrape(t *testing.T, f *fixture) map[string]float64 {
	t.Helper()
	resp := get(t, f, "/metrics", nil)
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s %s", resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q", ct)
	}
	out := map[string]float64{}
	typed := map[string]string{}
	var helped, current string
	sc := bufio.NewScanner(bytes.NewReader([]byte(body)))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case helpLine.MatchString(line):
			helped = helpLine.FindStringSubmatch(line)[1]
		case typeLine.MatchString(line):
			m := typeLine.FindStringSubmatch(line)
			if m[1] != helped {
				t.Errorf("line %d: TYPE of %s without its HELP", n, m[1])
			}
			if _, dup := typed[m[1]]; dup {
				t.Errorf("line %d: %s described twice", n, m[1])
			}
			typed[m[1]], current = m[2], m[1]
			if m[2] == "counter" && !strings.HasSuffix(m[1], "_total") {
				t.Errorf("line %d: counter %s does not end in _total", n, m[1])
			}
		case sampleLine.MatchString(line):
			m := sampleLine.FindStringSubmatch(line)
			if m[1] != current {
				t.Errorf("line %d: sample of %s under the TYPE of %s", n, m[1], current)
			}
			v, err := strconv.ParseFloat(m[3], 64)
			if err != nil {
				t.Errorf("line %d: value %q: %v", n, m[3], err)
			}
			out[m[1]+m[2]] = v
		default:
			t.Errorf("line %d is not in the text format: %q", n, line)
		}
	}
	return out
}

func TestMetrics(t *testing.T) {
	ctx := ctxT(t)
	a := serve(t, true)
	b := serve(t, true)
	before := scrape(t, b)
	for _, name := range []string{
		"loam_sync_commits_applied_total", `loam_commits_rejected_total{reason="invalid_commit"}`,
		`loam_sync_bytes_total{direction="in"}`, `loam_sync_bytes_total{direction="out"}`,
		`loam_peers{type="direct"}`, `loam_peers{type="relayed"}`, `loam_blob_bytes_total{direction="in"}`,
		`loam_blob_bytes_total{direction="out"}`, "loam_blob_fetches_started_total", "loam_spaces",
	} {
		if v, ok := before[name]; !ok || v != 0 {
			t.Errorf("%s = %v, %v before anything happened", name, v, ok)
		}
	}

	a.mustSpace(ctx, t, "garden")
	for i := range 3 {
		if err := a.c.Put(ctx, "garden", []byte("k"+strconv.Itoa(i)), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	photo := bytes.Repeat([]byte("photo "), 20000) // over 64 KiB: a blob
	resp := request(t, a, "PUT", "/v1/spaces/garden/keys/photo", string(photo), withToken(a, map[string]string{"Content-Type": "image/jpeg"}))
	if body := readBody(t, resp); resp.StatusCode != http.StatusOK {
		t.Fatalf("put the photo: %s %s", resp.Status, body)
	}
	ticket, err := a.c.Invite(ctx, "garden", "write", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.c.Join(ctx, ticket); err != nil {
		t.Fatal(err)
	}
	// Wait for the blob to arrive (fetched eagerly) and the counters to
	// show it.
	deadline := time.Now().Add(30 * time.Second)
	var after map[string]float64
	for {
		after = scrape(t, b)
		if after["loam_sync_commits_applied_total"] >= 5 && after[`loam_blob_bytes_total{direction="in"}`] >= float64(len(photo)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the metrics did not move: %v", after)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for name, want := range map[string]float64{
		`loam_peers{type="direct"}`: 1, "loam_spaces": 1, "loam_blob_fetches_started_total": 1, "loam_sync_sessions": 1,
	} {
		if after[name] < want {
			t.Errorf("%s = %v, want at least %v", name, after[name], want)
		}
	}
	if after[`loam_sync_bytes_total{direction="in"}`] == 0 || after[`loam_sync_bytes_total{direction="out"}`] == 0 {
		t.Errorf("no sync bytes counted: %v", after)
	}
	if up := scrape(t, a); up[`loam_blob_bytes_total{direction="out"}`] < float64(len(photo)) || up["loam_sync_commits_sent_total"] < 5 {
		t.Errorf("a's metrics: %v", up)
	}
	// No token, no metrics.
	resp = request(t, b, "GET", "/metrics", "", nil)
	if readBody(t, resp); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/metrics without a token: %s", resp.Status)
	}
}
