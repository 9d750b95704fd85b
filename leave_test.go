package loam_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/loamdb/loam"
)

// TestLeave: PlanLeave and Leave, embedded and through a daemon alike:
// the plan says what goes (the blob only the left space references, this
// device its only admin and holder, its writes held nowhere else); the
// space goes and the other stays whole; the person's own space is refused
// with ErrPersonSpace.
func TestLeave(t *testing.T) {
	ctx := ctxT(t)
	eachVia(t, func(t *testing.T, n *loam.Node) {
		keep := must(n.CreateSpace(ctx, "keep", loam.Public))(t)
		gone := must(n.CreateSpace(ctx, "gone", loam.Private))(t)
		if err := keep.Put(ctx, []byte("note"), []byte("stays")); err != nil {
			t.Fatal(err)
		}
		photo := make([]byte, 300<<10)
		rand.Read(photo)
		ref := must(gone.PutBlob(ctx, []byte("photo"), bytes.NewReader(photo), "image/jpeg"))(t)

		plan := must(n.PlanLeave(ctx, "gone"))(t)
		if plan.Space != gone.ID() || plan.Name != "gone" || plan.Blobs != 1 || plan.BlobBytes < ref.Size || !plan.OnlyAdmin ||
			!plan.Secret || plan.OtherHolders != 0 || plan.OwnCommits == 0 || plan.Unsynced != plan.OwnCommits {
			t.Fatalf("plan: %+v", plan)
		}
		rep := must(n.Leave(ctx, gone.ID()))(t)
		if rep.LeavePlan != plan || rep.Freed < plan.BlobBytes {
			t.Fatalf("report %+v, plan %+v", rep, plan)
		}
		if _, err := n.Space(ctx, "gone"); !errors.Is(err, loam.ErrUnknownSpace) {
			t.Errorf("the left space: %v, want ErrUnknownSpace", err)
		}
		if _, err := n.PlanLeave(ctx, "gone"); !errors.Is(err, loam.ErrUnknownSpace) {
			t.Errorf("plan of the left space: %v, want ErrUnknownSpace", err)
		}
		if v, err := keep.Get(ctx, []byte("note")); err != nil || string(v) != "stays" {
			t.Errorf("the other space: %q, %v", v, err)
		}
		if _, _, err := n.CreateIdentity(ctx, "Ana", loam.IdentityOptions{Device: "laptop"}); err != nil {
			t.Fatal(err)
		}
		if _, err := n.Leave(ctx, "me"); !errors.Is(err, loam.ErrPersonSpace) { // the person's own space's local name
			t.Errorf("leaving the person's own space: %v, want ErrPersonSpace", err)
		}
	})
}
