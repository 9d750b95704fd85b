package loam_test

import (
	"context"
	"strings"
	"testing"

	"github.com/loamdb/loam"
)

// TestOpenRejectsUnknownDHT: a DHT name that is not amino, private or off
// is refused with a message that lists them, before anything starts.
func TestOpenRejectsUnknownDHT(t *testing.T) {
	_, err := loam.Open(context.Background(), loam.Options{Home: t.TempDir(), Network: true, DHT: "kademlia"})
	if err == nil || !strings.Contains(err.Error(), "amino") {
		t.Fatalf("Open with DHT %q: %v, want an error naming the choices", "kademlia", err)
	}
}
