package api

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestWatch: a change made after subscribing arrives as an event; the
// prefix filters; the stream ends when the client leaves.
func TestWatch(t *testing.T) {
	ctx := ctxT(t)
	f := serve(t, false)
	f.c.CreateSpace(ctx, "garden")
	f.c.Put(ctx, "garden", []byte("chat/0"), []byte("before"))

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := f.c.Watch(wctx, "garden", []byte("chat/"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	f.c.Put(ctx, "garden", []byte("tools/x"), []byte("not watched"))
	f.c.Put(ctx, "garden", []byte("chat/1"), []byte("hello"))
	f.c.Batch(ctx, "garden", []BatchOp{DeleteOp([]byte("chat/0")), PutOp([]byte("chat/2"), []byte{0xff})})

	want := []struct{ op, key, value string }{{"put", "chat/1", "hello"}, {"del", "chat/0", ""}, {"put", "chat/2", "\xff"}}
	for _, wnt := range want {
		e, err := next(t, w)
		if err != nil {
			t.Fatal(err)
		}
		k, v, err := e.Bytes()
		if err != nil || e.Op != wnt.op || string(k) != wnt.key || string(v) != wnt.value || !strings.HasPrefix(e.Author, "aut_") {
			t.Errorf("event %+v (%q %q %v), want %+v", e, k, v, err, wnt)
		}
		if e.Op == "del" && (e.Value != nil || e.ValueB64 != nil) {
			t.Errorf("a delete with a value: %+v", e)
		}
	}

	cancel()
	if _, err := w.Next(); !errors.Is(err, context.Canceled) {
		t.Errorf("after cancel: %v", err)
	}

	// Unknown spaces fail before the stream starts.
	if _, err := f.c.Watch(ctx, "nope", nil); err == nil {
		t.Error("watch of an unknown space")
	}
}

// TestWatchEndsOnShutdown: CloseStreams ends open streams.
func TestWatchEndsOnShutdown(t *testing.T) {
	ctx := ctxT(t)
	f := serve(t, false)
	f.c.CreateSpace(ctx, "garden")
	w, err := f.c.Watch(ctx, "garden", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	f.server.CloseStreams()
	if _, err := next(t, w); err == nil || !strings.Contains(err.Error(), "ended the watch") {
		t.Errorf("after CloseStreams: %v", err)
	}
}

// next reads the next event, failing the test if none comes in time.
func next(t *testing.T, w *Watcher) (Entry, error) {
	t.Helper()
	type res struct {
		e   Entry
		err error
	}
	ch := make(chan res, 1)
	go func() {
		e, err := w.Next()
		ch <- res{e, err}
	}()
	select {
	case r := <-ch:
		return r.e, r.err
	case <-time.After(10 * time.Second):
		w.Close()
		<-ch
		t.Fatal("no event within 10 s")
		return Entry{}, nil
	}
}
