package storetest

import (
	"os"
	"strconv"
	"sync"
	"time"
)

// EpochEnv names the variable that sets Epoch, to replay a failure with
// the same commits.
const EpochEnv = "LOAM_TEST_EPOCH"

// Epoch is the wall time (µs since 1970) the generated histories start
// from: an hour before the process first asked, or $LOAM_TEST_EPOCH. A
// commit's ID hashes its time, and ties between concurrent writes are
// broken by IDs, so a history depends on it as much as on its seed: a
// property test that fails says the epoch with the seed (rapid.T.Logf),
// and both replay the failure.
func Epoch() uint64 { return epoch() }

var epoch = sync.OnceValue(func() uint64 {
	if v, err := strconv.ParseUint(os.Getenv(EpochEnv), 10, 64); err == nil && v > 0 {
		return v
	}
	return uint64(time.Now().Add(-time.Hour).UnixMicro())
})
