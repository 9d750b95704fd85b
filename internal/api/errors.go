package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/archive"
	"github.com/loamdb/loam/internal/blob"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/node"
	"github.com/loamdb/loam/internal/p2p"
	"github.com/loamdb/loam/internal/schema"
	"github.com/loamdb/loam/internal/seal"
	"github.com/loamdb/loam/internal/snapshot"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/view"
)

// Errors of the API itself, besides those of the packages below it.
var (
	// ErrBadRequest is wrapped by errors in what a request sent.
	ErrBadRequest = errors.New("bad request")
	// ErrUnauthorized is returned for a request without the API token.
	ErrUnauthorized = errors.New("no API token")
	// ErrForbidden is returned for a request with a wrong token, a
	// foreign Host, or a cross-origin write.
	ErrForbidden = errors.New("forbidden")
	// ErrNoRoute is returned for a path or method the API does not have.
	ErrNoRoute = errors.New("no such endpoint")
)

// errorKind ties an error kind to its HTTP status and to the code that
// names it in error bodies, so the client can turn the code back into the
// same kind.
type errorKind struct {
	err    error
	status int
	code   string
	also   []error // other kinds the server's errors of this kind always wrap, for the client's errors.Is
}

// kinds is the one place that maps error kinds to HTTP statuses, for the
// server, and codes back to error kinds, for the client. The first kind
// that matches wins. Every exported sentinel of the packages below that a
// client may meet is here (TestErrorsRoundTrip checks it); the others
// answer 500 "internal". docs/api.md lists the codes.
var kinds = []errorKind{
	{store.ErrNotFound, http.StatusNotFound, "not_found", nil},
	{store.ErrUnknownSpace, http.StatusNotFound, "unknown_space", nil},
	{ErrNoRoute, http.StatusNotFound, "no_route", nil},
	{node.ErrNotMember, http.StatusNotFound, "not_member", nil},
	{node.ErrNoSecret, http.StatusNotFound, "no_secret", nil},
	{node.ErrNoIdentity, http.StatusNotFound, "no_identity", nil},
	{node.ErrUnknownDevice, http.StatusNotFound, "unknown_device", nil},
	{blob.ErrNotFound, http.StatusNotFound, "blob_not_found", nil},
	{blob.ErrUnavailable, http.StatusNotFound, "unavailable", nil},
	{node.ErrLinkVoid, http.StatusGone, "link_void", nil},
	{space.ErrErased, http.StatusGone, "erased", nil},
	{space.ErrSealed, http.StatusForbidden, "sealed", nil},
	{space.ErrNothingToErase, http.StatusNotFound, "nothing_to_erase", nil},
	{node.ErrInviteVoid, http.StatusGone, "invite_void", nil},
	{acl.ErrUsedUp, http.StatusGone, "invite_used", nil},
	{ErrBadRequest, http.StatusBadRequest, "bad_request", nil},
	{archive.ErrBadArchive, http.StatusBadRequest, "bad_archive", nil},
	{archive.ErrRefused, http.StatusBadRequest, "archive_refused", nil},
	{keys.ErrTicketMistyped, http.StatusBadRequest, "mistyped_ticket", []error{keys.ErrBadTicket}},
	{keys.ErrBadTicket, http.StatusBadRequest, "bad_ticket", nil},
	{keys.ErrMalformed, http.StatusBadRequest, "malformed_id", nil},
	{node.ErrBadName, http.StatusBadRequest, "bad_name", nil},
	{node.ErrBadPersonName, http.StatusBadRequest, "bad_person_name", nil},
	{space.ErrBadProfile, http.StatusBadRequest, "bad_profile", nil},
	{node.ErrBadPhrase, http.StatusBadRequest, "bad_phrase", nil},
	{commit.ErrMalformed, http.StatusBadRequest, "malformed_commit", nil},
	{blob.ErrBadRef, http.StatusBadRequest, "bad_ref", nil},
	{ErrSessionRevoked, http.StatusUnauthorized, "session_revoked", nil},
	{ErrUnauthorized, http.StatusUnauthorized, "unauthorized", nil},
	{ErrNoSession, http.StatusNotFound, "no_session", nil},
	{ErrBadPairCode, http.StatusForbidden, "bad_pair_code", nil},
	{ErrPairLocked, http.StatusTooManyRequests, "pairing_locked", nil},
	{ErrNoUIListen, http.StatusConflict, "no_ui_listen", nil},
	{space.ErrClearBlob, http.StatusBadRequest, "clear_blob", nil},
	{space.ErrAppRule, http.StatusUnprocessableEntity, "app_rule", nil},
	{space.ErrRulesVersion, http.StatusConflict, "rules_version", nil},
	{schema.ErrBody, http.StatusBadRequest, "bad_rules", nil},
	{space.ErrForked, http.StatusForbidden, "device_forked", []error{space.ErrReadOnly}},
	{space.ErrAwaiting, http.StatusConflict, "awaiting_history", []error{space.ErrReadOnly}},
	{space.ErrReadOnly, http.StatusForbidden, "read_only", nil},
	{node.ErrNoReadKey, http.StatusForbidden, "no_read_key", nil},
	{node.ErrNotAdmin, http.StatusForbidden, "not_admin", nil},
	{node.ErrCheckpointPrivate, http.StatusConflict, "checkpoint_private", nil},
	{snapshot.ErrUnsupported, http.StatusConflict, "checkpoint_unsupported", nil},
	{node.ErrNoIdentityKey, http.StatusForbidden, "no_identity_key", nil},
	{node.ErrRevokeThisDevice, http.StatusConflict, "revoke_this_device", nil},
	{ErrForbidden, http.StatusForbidden, "forbidden", nil},
	{store.ErrUnauthorized, http.StatusForbidden, "unauthorized_commit", nil},
	{store.ErrRevoked, http.StatusForbidden, "not_counted", nil},
	{acl.ErrDenied, http.StatusForbidden, "denied", nil},
	{acl.ErrRevoked, http.StatusForbidden, "revoked", nil},
	{acl.ErrForked, http.StatusConflict, "forked", nil},
	{store.ErrForked, http.StatusConflict, "forked_commit", nil},
	{store.ErrNameTaken, http.StatusConflict, "name_taken", nil},
	{node.ErrIdentityExists, http.StatusConflict, "identity_exists", nil},
	{node.ErrHeld, http.StatusConflict, "space_held", nil},
	{node.ErrPersonSpace, http.StatusConflict, "person_space", nil},
	{space.ErrEpochChanged, http.StatusConflict, "epoch_changed", nil},
	{blob.ErrSizeMismatch, http.StatusConflict, "size_mismatch", nil},
	{seal.ErrSealedSize, http.StatusConflict, "sealed_size_mismatch", nil},
	{blob.ErrTooLarge, http.StatusRequestEntityTooLarge, "too_large", nil},
	{seal.ErrTooLarge, http.StatusRequestEntityTooLarge, "seal_too_large", nil},
	{node.ErrUnreachable, http.StatusBadGateway, "unreachable", nil},
	{node.ErrOffline, http.StatusServiceUnavailable, "offline", nil},
	{p2p.ErrNoDHT, http.StatusServiceUnavailable, "no_dht", nil},
	{store.ErrClosed, http.StatusServiceUnavailable, "closed", nil},
	{store.ErrDiskFull, http.StatusInsufficientStorage, "disk_full", nil},
	{context.DeadlineExceeded, http.StatusGatewayTimeout, "timeout", nil},
	{space.ErrInvalidLog, http.StatusInternalServerError, "invalid_log", nil},
	{store.ErrCorrupt, http.StatusInternalServerError, "corrupt_store", nil},
	{view.ErrCorrupt, http.StatusInternalServerError, "corrupt_view", nil},
	{blob.ErrCorrupt, http.StatusInternalServerError, "corrupt_blob", nil},
	{seal.ErrDecrypt, http.StatusInternalServerError, "undecryptable", nil},
}

// kindOf returns the kind of err: its status and code.
func kindOf(err error) (status int, code string) {
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			return k.status, k.code
		}
	}
	return http.StatusInternalServerError, "internal"
}

// Code returns the code that names err's kind in error bodies ("sealed",
// "not_found", …; "internal" for an error of no listed kind): what a
// program reading a command's --json output checks, as the API's clients
// check ErrorBody.Code.
func Code(err error) string {
	var ae *Error
	if errors.As(err, &ae) && ae.Code != "" {
		return ae.Code
	}
	_, code := kindOf(err)
	return code
}

// ErrorBody is the body of every error response.
type ErrorBody struct {
	Error string `json:"error"`          // one clear sentence
	Code  string `json:"code,omitempty"` // the kind of error, e.g. "not_found"
}

// Error is an error answered by the API. Its text is the server's one
// sentence, and it wraps the error kind its code names, so callers check
// it with errors.Is(err, store.ErrNotFound) and the like.
type Error struct {
	Status  int    // HTTP status
	Code    string // as in ErrorBody
	Message string // as in ErrorBody
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns the error kind of e's code, if it names one, and the
// kinds that kind always comes with.
func (e *Error) Unwrap() []error {
	for _, k := range kinds {
		if k.code == e.Code {
			return append([]error{k.err}, k.also...)
		}
	}
	return nil
}

// badRequestf returns an error in a request, wrapping ErrBadRequest but
// saying only what is wrong.
func badRequestf(format string, args ...any) error {
	return &kindError{msg: fmt.Sprintf(format, args...), kind: ErrBadRequest}
}

// kindError is an error of a kind with its own message.
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }
