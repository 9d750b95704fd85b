package loam_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/loamdb/loam"
)

// TestImportFrontDoor: Import gives the same report, the same keys and
// the same errors embedded and through a daemon.
func TestImportFrontDoor(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	d := startDaemon(t)
	embedded := openEmbedded(t)
	photo := must(embedded.AddBlob(ctx, strings.NewReader(strings.Repeat("p", 100<<10))))(t)
	good := `{"key":"a","value":"1"}` + "\n" + `{"key_b64":"/wBr","value":"binary key"}` + "\n\n" +
		`{"key":"photo","blob":{"id":"` + photo.ID + `","size":102400,"type":"image/png"}}` + "\n" + `{"key":"c","value":"3"}` + "\n"
	bad := `{"key":"d","value":"4"}` + "\n" + `{"key":"e","value":5}` + "\n"
	type result struct {
		rep        loam.ImportReport
		keys       []string
		badErr     string
		interrupts bool
	}
	run := func(n *loam.Node) result {
		sp := must(n.CreateSpace(ctx, "garden", loam.Public))(t)
		var r result
		r.rep = must(sp.Import(ctx, strings.NewReader(good), loam.ImportOptions{Batch: 2}))(t)
		r.keys = keysOf(t, sp)
		_, err := sp.Import(ctx, strings.NewReader(bad), loam.ImportOptions{})
		if err == nil {
			t.Fatal("Import took a bad line")
		}
		r.badErr = err.Error()
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err = sp.Import(cctx, strings.NewReader(good), loam.ImportOptions{})
		r.interrupts = errors.Is(err, context.Canceled)
		return r
	}
	want, got := run(embedded), run(connect(t, d.home))
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("through the daemon: %+v\nembedded: %+v", got, want)
	}
	if want.rep != (loam.ImportReport{Keys: 4, Commits: 2}) || len(want.keys) != 4 || !want.interrupts ||
		!strings.Contains(want.badErr, `line 2: "value" is a JSON number`) {
		t.Fatalf("embedded: %+v", want)
	}
}
