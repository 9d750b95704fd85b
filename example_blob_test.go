package loam_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"strings"

	"github.com/loamdb/loam"
)

// A large value goes in a blob: content-addressed, cut into chunks, and
// fetched from every peer that has it. The key holds a reference.
func ExampleSpace_PutBlob() {
	ctx := context.Background()

	// In a private space a blob is sealed before it is stored or sent.
	_, sp, done := exampleSpace(ctx, "family", loam.Private)
	defer done()
	photo := bytes.Repeat([]byte("pixels "), 300_000) // 2.1 MB
	ref, err := sp.PutBlob(ctx, []byte("photos/beach"), bytes.NewReader(photo), "image/jpeg")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("stored %d bytes, sealed: %v\n", ref.Size, ref.Sealed)

	// Get refuses a key that holds a blob; Lookup says which blob.
	_, err = sp.Get(ctx, []byte("photos/beach"))
	fmt.Println("Get:", errors.Is(err, loam.ErrIsBlob))
	kv, err := sp.Lookup(ctx, []byte("photos/beach"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("Lookup: %s, %d bytes\n", kv.Blob.Type, kv.Blob.Size)
	// Output:
	// stored 2100000 bytes, sealed: true
	// Get: true
	// Lookup: image/jpeg, 2100000 bytes
}

// OpenBlob reads the plaintext, from the start or anywhere (it is an
// io.ReadSeeker and an io.ReaderAt), fetching from peers what is not held
// here.
func ExampleSpace_OpenBlob() {
	ctx := context.Background()
	_, sp, done := exampleSpace(ctx, "family", loam.Private)
	defer done()
	photo := bytes.Repeat([]byte("pixels "), 300_000)
	if _, err := sp.PutBlob(ctx, []byte("photos/beach"), bytes.NewReader(photo), "image/jpeg"); err != nil {
		log.Fatal(err)
	}

	r, err := sp.OpenBlob(ctx, []byte("photos/beach"))
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("read back the same bytes:", bytes.Equal(got, photo))
	tail := make([]byte, 6)
	if _, err := r.ReadAt(tail, r.Size()-7); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("the last word: %s\n", tail)
	// Output:
	// read back the same bytes: true
	// the last word: pixels
}

// A blob can be stored first and referenced later, under one key or
// several, in one space or several (public ones: a private space's blobs
// are sealed to it, so write them there with PutBlob).
func ExampleNode_AddBlob() {
	ctx := context.Background()
	n, sp, done := exampleSpace(ctx, "garden-club", loam.Public)
	defer done()

	csv := strings.Repeat("date,tool,member\n", 10_000)
	info, err := n.AddBlob(ctx, strings.NewReader(csv))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("added %d bytes in %d chunk, pinned: %v\n", info.Size, info.Chunks, info.Pinned)

	b := sp.Batch()
	ref := loam.BlobRef{ID: info.ID, Size: info.Size, Type: "text/csv"}
	b.PutBlobRef([]byte("loans/2026.csv"), ref)
	b.PutBlobRef([]byte("archive/loans-2026.csv"), ref)
	if err := b.Commit(ctx); err != nil {
		log.Fatal(err)
	}
	for kv, err := range sp.Range(ctx) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: %s, the same blob: %v\n", kv.Key, kv.Blob.Type, kv.Blob.ID == info.ID)
	}
	// Output:
	// added 170000 bytes in 1 chunk, pinned: true
	// archive/loans-2026.csv: text/csv, the same blob: true
	// loans/2026.csv: text/csv, the same blob: true
}

// The node keeps a blob while a key of a held space references it, or
// while it is pinned; GCBlobs frees the others.
func ExampleNode_Blobs() {
	ctx := context.Background()
	n, done := exampleNode(ctx)
	defer done()
	info, err := n.AddBlob(ctx, strings.NewReader(strings.Repeat("minutes of the meeting\n", 1000)))
	if err != nil {
		log.Fatal(err)
	}

	blobs, err := n.Blobs(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, b := range blobs {
		fmt.Printf("%d bytes, %d of %d chunks held, pinned: %v\n", b.Size, b.Held, b.Chunks, b.Pinned)
	}

	if err := n.UnpinBlob(ctx, info.ID); err != nil {
		log.Fatal(err)
	}
	freed, err := n.GCBlobs(ctx)
	if err != nil {
		log.Fatal(err)
	}
	blobs, err = n.Blobs(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("unpinned and collected: its bytes freed: %v, %d blobs left\n", freed >= info.Size, len(blobs))
	// Output:
	// 23000 bytes, 1 of 1 chunks held, pinned: true
	// unpinned and collected: its bytes freed: true, 0 blobs left
}
