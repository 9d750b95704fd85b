package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestPollCLI: 'loam poll' lists a space's polls with their tallies and
// shows one with who voted (open ballot), as a table and as JSON.
func TestPollCLI(t *testing.T) {
	t.Parallel()
	h := gardenHome(t)
	var created struct {
		ID string `json:"id"`
	}
	h.okJSON(&created, "id", "create", "--name", "Ana", "--json")
	var ms []struct {
		Identity string `json:"identity"`
		Devices  []struct {
			Author string `json:"author"`
		} `json:"devices"`
	}
	h.okJSON(&ms, "members", "garden", "--json")
	author := ""
	for _, m := range ms {
		if m.Identity == created.ID && len(m.Devices) == 1 {
			author = m.Devices[0].Author
		}
	}
	id := fmt.Sprintf("%013d-%s", time.Now().UnixMilli(), author)
	h.ok("", "put", "garden", "board/poll/"+id, fmt.Sprintf(`{"question":"Bench or planter?","options":["bench","planter"],"closes":%q}`, time.Now().Add(time.Hour).Format(time.RFC3339)))
	h.ok("", "put", "garden", "board/vote/"+id+"/"+created.ID, `{"option":1}`)

	if out := h.ok("", "poll", "garden"); !strings.Contains(out, "Bench or planter?") || !strings.Contains(out, "planter (1)") {
		t.Fatalf("loam poll garden:\n%s", out)
	}
	out := h.ok("", "poll", "garden", id)
	for _, want := range []string{"by Ana, open ballot", "planter  1  Ana", "Verified from 1 signed votes: 1 counted", "votes signed after the close do not count"} {
		if !strings.Contains(out, want) {
			t.Errorf("loam poll garden POLL lacks %q:\n%s", want, out)
		}
	}
	var p struct {
		Counts []int `json:"counts"`
		Votes  []struct {
			Name string `json:"name"`
		} `json:"votes"`
	}
	h.okJSON(&p, "poll", "garden", "board/poll/"+id, "--json")
	if fmt.Sprint(p.Counts) != "[0 1]" || len(p.Votes) != 1 || p.Votes[0].Name != "Ana" {
		t.Fatalf("loam poll --json: %+v", p)
	}
	if line := h.fail(1, "", "poll", "garden", "0000000000000-aut_nobody"); !strings.Contains(line, "not") {
		t.Fatalf("loam poll of no poll: %q", line)
	}
}
