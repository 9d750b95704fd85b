// Package loam is a peer-to-peer database for local-first community apps.
//
// A Node is one device's store of spaces. A Space is a shared key-value
// database written by many members: each write is a signed, hash-chained
// commit, and the view (key → value) is a deterministic last-writer-wins
// merge of every valid commit, whatever order they arrived in.
//
//	n, err := loam.Open(ctx, loam.Options{Home: dir})
//	sp, err := n.CreateSpace(ctx, "garden-club", loam.Public)
//	err = sp.Put(ctx, []byte("tools/drill"), []byte("cordless, 18V"))
//	v, err := sp.Get(ctx, []byte("tools/drill"))
//	for kv, err := range sp.Range(ctx, loam.Prefix("tools/")) { … }
//
// Open opens the store in this process; while a daemon ('loam daemon')
// holds the home, Connect works through it instead, with the same types,
// results and errors:
//
//	n, err := loam.Connect(ctx, home)
//	if errors.Is(err, loam.ErrNoDaemon) {
//		n, err = loam.Open(ctx, loam.Options{Home: home})
//	}
//
// Identifiers (space IDs, author IDs) appear in this API in their text form:
// "spc_…" and "aut_…". Writes return once they are durable on disk.
package loam
