package api

import (
	crand "crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/archive"
	"github.com/loamdb/loam/internal/blob"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/frame"
	"github.com/loamdb/loam/internal/identity"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/node"
	"github.com/loamdb/loam/internal/p2p"
	"github.com/loamdb/loam/internal/reconcile"
	"github.com/loamdb/loam/internal/schema"
	"github.com/loamdb/loam/internal/seal"
	"github.com/loamdb/loam/internal/snapshot"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/store/bodylog"
	"github.com/loamdb/loam/internal/view"
)

// sentinels are the exported sentinel errors of the API and of every
// project package it builds on, by package and name. TestSentinelsListed
// checks that the list is complete.
var sentinels = map[string]error{
	"api.ErrBadRequest":     ErrBadRequest,
	"api.ErrUnauthorized":   ErrUnauthorized,
	"api.ErrForbidden":      ErrForbidden,
	"api.ErrNotLoopback":    ErrNotLoopback,
	"api.ErrNoRoute":        ErrNoRoute,
	"api.ErrSessionRevoked": ErrSessionRevoked,
	"api.ErrNoSession":      ErrNoSession,
	"api.ErrPairLocked":     ErrPairLocked,
	"api.ErrBadPairCode":    ErrBadPairCode,
	"api.ErrNoUIListen":     ErrNoUIListen,

	"acl.ErrDenied":  acl.ErrDenied,
	"acl.ErrRevoked": acl.ErrRevoked,
	"acl.ErrUsedUp":  acl.ErrUsedUp,
	"acl.ErrForked":  acl.ErrForked,
	"acl.ErrSchema":  acl.ErrSchema,

	"schema.ErrBody": schema.ErrBody,

	"blob.ErrBadBlobMsg":   blob.ErrBadBlobMsg,
	"blob.ErrSizeMismatch": blob.ErrSizeMismatch,
	"blob.ErrUnavailable":  blob.ErrUnavailable,
	"blob.ErrCorrupt":      blob.ErrCorrupt,
	"blob.ErrMalformed":    blob.ErrMalformed,
	"blob.ErrTooLarge":     blob.ErrTooLarge,
	"blob.ErrNotFound":     blob.ErrNotFound,
	"blob.ErrBadRef":       blob.ErrBadRef,

	"commit.ErrNotFork":      commit.ErrNotFork,
	"commit.ErrMalformed":    commit.ErrMalformed,
	"commit.ErrBadSignature": commit.ErrBadSignature,
	"commit.ErrBadSealedOp":  commit.ErrBadSealedOp,

	"keys.ErrMalformed":          keys.ErrMalformed,
	"keys.ErrBadTicket":          keys.ErrBadTicket,
	"keys.ErrBadEpochKeys":       keys.ErrBadEpochKeys,
	"identity.ErrMalformed":      identity.ErrMalformed,
	"identity.ErrBadSignature":   identity.ErrBadSignature,
	"identity.ErrPhraseLength":   identity.ErrPhraseLength,
	"identity.ErrPhraseWord":     identity.ErrPhraseWord,
	"identity.ErrPhraseChecksum": identity.ErrPhraseChecksum,
	"node.ErrNotMember":          node.ErrNotMember,
	"node.ErrNoSecret":           node.ErrNoSecret,
	"node.ErrInviteVoid":         node.ErrInviteVoid,
	"node.ErrNoReadKey":          node.ErrNoReadKey,
	"node.ErrInUse":              node.ErrInUse,
	"node.ErrHeld":               node.ErrHeld,
	"node.ErrPersonSpace":        node.ErrPersonSpace,
	"archive.ErrBadArchive":      archive.ErrBadArchive,
	"archive.ErrRefused":         archive.ErrRefused,
	"archive.ErrBadBackup":       archive.ErrBadBackup,
	"archive.ErrPassphrase":      archive.ErrPassphrase,
	"node.ErrBadName":            node.ErrBadName,
	"node.ErrOffline":            node.ErrOffline,
	"node.ErrNotAdmin":           node.ErrNotAdmin,
	"node.ErrCheckpointPrivate":  node.ErrCheckpointPrivate,
	"node.ErrUnreachable":        node.ErrUnreachable,
	"node.ErrNoIdentity":         node.ErrNoIdentity,
	"node.ErrIdentityExists":     node.ErrIdentityExists,
	"node.ErrLinkVoid":           node.ErrLinkVoid,
	"node.ErrBadPhrase":          node.ErrBadPhrase,
	"node.ErrBadPersonName":      node.ErrBadPersonName,
	"node.ErrBadIdentityFile":    node.ErrBadIdentityFile,
	"node.ErrNoIdentityKey":      node.ErrNoIdentityKey,
	"node.ErrUnknownDevice":      node.ErrUnknownDevice,
	"node.ErrRevokeThisDevice":   node.ErrRevokeThisDevice,
	"p2p.ErrNoHolePunch":         p2p.ErrNoHolePunch,
	"p2p.ErrNotEd25519":          p2p.ErrNotEd25519,
	"p2p.ErrNotRelayed":          p2p.ErrNotRelayed,
	"p2p.ErrNoDHT":               p2p.ErrNoDHT,
	"seal.ErrDecrypt":            seal.ErrDecrypt,
	"seal.ErrTooLarge":           seal.ErrTooLarge,
	"seal.ErrRecipient":          seal.ErrRecipient,
	"seal.ErrSealedSize":         seal.ErrSealedSize,
	"space.ErrClearBlob":         space.ErrClearBlob,
	"space.ErrEpochChanged":      space.ErrEpochChanged,
	"space.ErrReadOnly":          space.ErrReadOnly,
	"space.ErrAwaiting":          space.ErrAwaiting,
	"space.ErrInvalidLog":        space.ErrInvalidLog,
	"space.ErrForked":            space.ErrForked,
	"space.ErrBadProfile":        space.ErrBadProfile,
	"space.ErrErased":            space.ErrErased,
	"space.ErrSealed":            space.ErrSealed,
	"space.ErrNothingToErase":    space.ErrNothingToErase,
	"space.ErrAppRule":           space.ErrAppRule,
	"space.ErrRulesVersion":      space.ErrRulesVersion,
	"view.ErrCorrupt":            view.ErrCorrupt,

	"reconcile.ErrMisbehaving":  reconcile.ErrMisbehaving,
	"reconcile.ErrBadFrame":     reconcile.ErrBadFrame,
	"reconcile.ErrBadMessage":   reconcile.ErrBadMessage,
	"reconcile.ErrBadProof":     reconcile.ErrBadProof,
	"reconcile.ErrBadCommit":    reconcile.ErrBadCommit,
	"reconcile.ErrUnauthorized": reconcile.ErrUnauthorized,
	"reconcile.ErrEquivocation": reconcile.ErrEquivocation,
	"reconcile.ErrOverCut":      reconcile.ErrOverCut,
	"reconcile.ErrBrokenRule":   reconcile.ErrBrokenRule,
	"reconcile.ErrUngranted":    reconcile.ErrUngranted,
	"reconcile.ErrStalled":      reconcile.ErrStalled,
	"reconcile.ErrFrameTimeout": reconcile.ErrFrameTimeout,
	"reconcile.ErrBadSnapMsg":   reconcile.ErrBadSnapMsg,
	"snapshot.ErrMalformed":     snapshot.ErrMalformed,
	"snapshot.ErrUnsupported":   snapshot.ErrUnsupported,
	"reconcile.ErrNoSnapshot":   reconcile.ErrNoSnapshot,

	"frame.ErrMalformed": frame.ErrMalformed,
	"frame.ErrTimeout":   frame.ErrTimeout,

	"store.ErrClosed":       store.ErrClosed,
	"store.ErrUnknownSpace": store.ErrUnknownSpace,
	"store.ErrNameTaken":    store.ErrNameTaken,
	"store.ErrNotFound":     store.ErrNotFound,
	"store.ErrUnauthorized": store.ErrUnauthorized,
	"store.ErrBelowFloor":   store.ErrBelowFloor,
	"store.ErrRevoked":      store.ErrRevoked,
	"store.ErrClock":        store.ErrClock,
	"store.ErrWrongSpace":   store.ErrWrongSpace,
	"store.ErrGenesis":      store.ErrGenesis,
	"store.ErrCorrupt":      store.ErrCorrupt,
	"store.ErrPending":      store.ErrPending,
	"store.ErrFuture":       store.ErrFuture,
	"store.ErrForked":       store.ErrForked,
	"store.ErrDiskFull":     store.ErrDiskFull,
	"store.ErrOverCut":      store.ErrOverCut,

	"bodylog.ErrCorrupt":  bodylog.ErrCorrupt,
	"bodylog.ErrClosed":   bodylog.ErrClosed,
	"bodylog.ErrTooLarge": bodylog.ErrTooLarge,
	"bodylog.ErrReadOnly": bodylog.ErrReadOnly,

	"keys.ErrTicketMistyped": keys.ErrTicketMistyped,
	"node.ErrBadJoinRecord":  node.ErrBadJoinRecord,
	"node.ErrBadPeerBook":    node.ErrBadPeerBook,
}

// internalOnly are the sentinels no API client meets: each is caught or
// turned into another error before it could reach the API, or names a
// state the daemon cannot be in while it serves. They answer 500
// "internal" if they ever do.
var internalOnly = map[string]string{
	"blob.ErrBadBlobMsg":         "a peer's malformed blob message: the fetch drops the peer and goes on",
	"blob.ErrMalformed":          "manifests are built here or verified against their ID; a bad one from a peer drops the peer",
	"commit.ErrNotFork":          "fork evidence is checked between peers only",
	"commit.ErrBadSignature":     "commits from peers are checked by sync; the node signs its own",
	"commit.ErrBadSealedOp":      "sealed ops from peers are checked by sync",
	"keys.ErrBadEpochKeys":       "read key files are read at start",
	"archive.ErrBadBackup":       "backups are restored onto a fresh home, with no daemon (loam.RestoreBackup)",
	"archive.ErrPassphrase":      "backups are restored onto a fresh home, with no daemon (loam.RestoreBackup)",
	"identity.ErrMalformed":      "identity records from peers are checked in the space's history (acl), which refuses the commit",
	"identity.ErrBadSignature":   "identity records from peers are checked in the space's history (acl), which refuses the commit",
	"identity.ErrPhraseLength":   "no API call takes a recovery phrase yet: give it a kind when one does",
	"identity.ErrPhraseWord":     "no API call takes a recovery phrase yet: give it a kind when one does",
	"identity.ErrPhraseChecksum": "no API call takes a recovery phrase yet: give it a kind when one does",
	"node.ErrInUse":              "the daemon holds the home",
	"api.ErrNotLoopback":         "Serve refuses it before the API serves anything",
	"node.ErrBadJoinRecord":      "join records are read at start; one that does not decode is not resumed",
	"node.ErrBadIdentityFile":    "the identity file is read at start: the node does not open with a bad one",
	"node.ErrBadPeerBook":        "the peer book is read at start; a bad one is rebuilt as peers connect",
	"p2p.ErrNoHolePunch":         "the reach loop retries it",
	"p2p.ErrNotEd25519":          "peer IDs from peers are checked by the p2p layer",
	"p2p.ErrNotRelayed":          "the reach loop's own state",
	"seal.ErrRecipient":          "author IDs are checked before sealing to them",
	"reconcile.ErrMisbehaving":   "sync with a peer: the session ends and the peer is counted",
	"reconcile.ErrBadFrame":      "sync with a peer",
	"reconcile.ErrBadMessage":    "sync with a peer",
	"reconcile.ErrBadProof":      "sync with a peer",
	"reconcile.ErrBadSnapMsg":    "a snapshot stream with a peer: it ends and the peer is counted",
	"snapshot.ErrMalformed":      "a snapshot a peer served: the joiner falls back to a full sync",
	"reconcile.ErrNoSnapshot":    "a snapshot stream: the peer is told the snapshot is not served",
	"reconcile.ErrBadCommit":     "sync with a peer",
	"reconcile.ErrUnauthorized":  "sync with a peer",
	"reconcile.ErrEquivocation":  "sync with a peer",
	"reconcile.ErrOverCut":       "sync with a peer",
	"reconcile.ErrBrokenRule":    "sync with a peer",
	"store.ErrBelowFloor":        "no node installs a checkpoint's snapshot yet (#14, plan step 5): give it a kind when one does",
	"reconcile.ErrUngranted":     "sync with a peer",
	"reconcile.ErrStalled":       "sync with a peer",
	"reconcile.ErrFrameTimeout":  "sync with a peer: the session ends, the peer is not counted",
	"frame.ErrMalformed":         "a peer's bad frame, on a sync or blob stream: the stream ends and the peer is counted",
	"frame.ErrTimeout":           "a peer too slow on a sync or blob stream: the stream ends, the peer is not counted",
	"store.ErrOverCut":           "commits from peers past a revoked or forked author's cut; the node refuses its own writes once it is cut",
	"store.ErrClock":             "the node's clock dates its own commits after their predecessors",
	"store.ErrWrongSpace":        "the node builds commits for the space it writes to",
	"store.ErrGenesis":           "the node builds the genesis it stores",
	"store.ErrPending":           "commits from peers wait in sync for their causal past",
	"store.ErrFuture":            "commits from peers wait in sync until their time",
	"bodylog.ErrCorrupt":         "the store reports a commit whose record does not read as store.ErrCorrupt",
	"bodylog.ErrClosed":          "the store's readers read the log under a read state, which Close waits for; the applier stops writing before the log closes",
	"bodylog.ErrTooLarge":        "a record holds one commit, which commit.MaxCommitSize keeps far below bodylog.MaxRecord",
	"bodylog.ErrReadOnly":        "a store open read-only refuses writes (store.ErrDiskFull) before they reach the log",
}

// TestSentinelsListed: sentinels lists every exported Err… variable of the
// API's package and of every project package it imports, directly or not,
// so that TestErrorsRoundTrip covers each.
func TestSentinelsListed(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}} {{.Dir}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	found := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, dir, _ := strings.Cut(line, " ")
		if !strings.HasPrefix(path, "github.com/loamdb/loam/") {
			continue
		}
		fset := token.NewFileSet()
		pkgs, err := parser.ParseDir(fset, dir, func(fi fs.FileInfo) bool {
			return !strings.HasSuffix(fi.Name(), "_test.go")
		}, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pkgs {
			for _, f := range p.Files {
				for _, d := range f.Decls {
					g, ok := d.(*ast.GenDecl)
					if !ok || g.Tok != token.VAR {
						continue
					}
					for _, s := range g.Specs {
						for _, n := range s.(*ast.ValueSpec).Names {
							if strings.HasPrefix(n.Name, "Err") && n.IsExported() {
								found[filepath.Base(path)+"."+n.Name] = true
							}
						}
					}
				}
			}
		}
	}
	for name := range found {
		if _, ok := sentinels[name]; !ok {
			t.Errorf("%s is not in sentinels: add it, and either a kind for it in errors.go (a client may meet it) or a reason in internalOnly", name)
		}
	}
	for name := range sentinels {
		if !found[name] {
			t.Errorf("sentinels lists %s, which does not exist", name)
		}
	}
	for name := range internalOnly {
		if _, ok := sentinels[name]; !ok {
			t.Errorf("internalOnly lists %s, which sentinels does not", name)
		}
	}
}

// TestErrorsRoundTrip: every sentinel a client may meet, wrapped as the
// packages wrap it, crosses a real server and client and comes back as
// itself (errors.Is), with a status of its own kind, and no two sentinels
// share a code. The others answer 500 "internal".
func TestErrorsRoundTrip(t *testing.T) {
	ctx := ctxT(t)
	var current error
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, current)
	}))
	defer srv.Close()
	c := &Client{BaseURL: srv.URL, HTTP: srv.Client()}
	codes := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(sentinels)) {
		sentinel := sentinels[name]
		current = fmt.Errorf("op: %w (what to do)", sentinel)
		err := c.call(ctx, http.MethodGet, "/v1/x", nil, nil)
		var ae *Error
		if !errors.As(err, &ae) {
			t.Errorf("%s: %v is not an *Error", name, err)
			continue
		}
		if ae.Message != sentence(current) {
			t.Errorf("%s: message %q, want %q", name, ae.Message, sentence(current))
		}
		if why, internal := internalOnly[name]; internal {
			if ae.Code != "internal" && !isKindOfAnother(sentinel) {
				t.Errorf("%s is listed as internal (%s) but answers %d %q", name, why, ae.Status, ae.Code)
			}
			continue
		}
		if ae.Code == "internal" || ae.Status == http.StatusInternalServerError && ae.Code == "" {
			t.Errorf("%s answers %d %q: add it to the kinds in errors.go", name, ae.Status, ae.Code)
			continue
		}
		if !errors.Is(err, sentinel) {
			t.Errorf("%s: the client's error (code %q) is not errors.Is the sentinel", name, ae.Code)
		}
		if other, dup := codes[ae.Code]; dup && !errors.Is(sentinel, sentinels[other]) && !errors.Is(sentinels[other], sentinel) {
			t.Errorf("%s and %s share the code %q", name, other, ae.Code)
		}
		codes[ae.Code] = name
	}
}

// TestErrorWrapsTwoKinds: a write by a device that has forked is refused
// with an error that is both space.ErrForked and space.ErrReadOnly in
// process; through the daemon it must stay both.
func TestErrorWrapsTwoKinds(t *testing.T) {
	ctx := ctxT(t)
	current := fmt.Errorf("%w: %w: two commits at one seq (use one home per device key)", space.ErrReadOnly, space.ErrForked)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { writeError(w, current) }))
	defer srv.Close()
	c := &Client{BaseURL: srv.URL, HTTP: srv.Client()}
	err := c.call(ctx, http.MethodGet, "/v1/x", nil, nil)
	if !errors.Is(err, space.ErrForked) || !errors.Is(err, space.ErrReadOnly) {
		t.Fatalf("through the API: %v; want both space.ErrForked and space.ErrReadOnly", err)
	}
}

// isKindOfAnother reports whether err wraps another sentinel that has a
// kind (reconcile's errors wrap ErrMisbehaving, for one).
func isKindOfAnother(err error) bool {
	status, _ := kindOf(err)
	return status != http.StatusInternalServerError
}

// TestUnknownBlob: GET of a blob no peer has is 404 "unavailable", and
// the client's error is blob.ErrUnavailable; fetching it says the same.
func TestUnknownBlob(t *testing.T) {
	ctx := ctxT(t)
	f := serve(t, true)
	var id blob.BlobID
	crand.Read(id[:])
	_, _, err := f.c.OpenBlob(ctx, id.String())
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != http.StatusNotFound || ae.Code != "unavailable" || !errors.Is(err, blob.ErrUnavailable) {
		t.Errorf("GET of a blob nobody has: %#v", err)
	}
	if _, err := f.c.FetchBlob(ctx, id.String(), nil); !errors.Is(err, blob.ErrUnavailable) {
		t.Errorf("fetch of a blob nobody has: %v", err)
	}
	// The error body is the one every error has.
	resp := get(t, f, "/v1/blobs/"+id.String(), nil)
	var body ErrorBody
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Code != "unavailable" || !strings.Contains(body.Error, "no peer") {
		t.Errorf("body %+v, %v", body, err)
	}
	resp.Body.Close()
}
