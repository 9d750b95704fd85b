package storetest

import (
	"context"
	"fmt"

	"github.com/loamdb/loam/internal/keys"
)

// State returns st's heads and view hash of space sp, as text: two
// replicas that converged return the same. ok is false when st cannot
// say.
func State(ctx context.Context, st Store, sp keys.SpaceID) (state string, ok bool) {
	hs, err := st.Heads(ctx, sp)
	if err != nil {
		return "", false
	}
	v, err := st.View(ctx, sp)
	if err != nil {
		return "", false
	}
	return fmt.Sprint(hs, v.Hash), true
}
