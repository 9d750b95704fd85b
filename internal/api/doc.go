// Package api is the local HTTP API of a Loam daemon, and its client.
//
// The daemon ('loam daemon') serves it on a loopback address, by default
// 127.0.0.1:7777, and writes that address in daemon.json in its Loam home
// (see DaemonInfo); the CLI's data commands use it whenever a daemon runs
// for their home. Requests and answers are JSON unless said otherwise;
// every path starts with the version, /v1/.
//
// # Access
//
// Every request carries the API token of the Loam home (api.token, see
// LoadOrCreateToken) in a header:
//
//	Authorization: Bearer 6f1c…(64 hex digits)
//
// A request without it is refused with 401; with a wrong one, 403. A token
// in the query string is never accepted (401): URLs end up in logs and
// browser history. The Host header must name a loopback host (localhost,
// 127.0.0.1 or [::1], any port), else 403 even with the right token: this
// defeats DNS rebinding, where a web page's own host name is made to point
// at 127.0.0.1. The API sends no CORS headers at all, so browsers keep
// other origins' pages from reading its answers, and it refuses (403) any
// request other than GET and HEAD whose Origin header is not the API's own
// origin (http:// and the Host).
//
// # Browsers
//
// A browser gets no token: 'loam daemon' prints a one-time login URL,
//
//	http://127.0.0.1:7777/login?t=9c2e…(64 hex digits)
//
// valid once, for LoginTTL (15 minutes); 'loam ui' (POST /v1/logins)
// prints a fresh one. Visiting it sets an HttpOnly, SameSite=Strict session
// cookie named loam_session_PORT (browsers share cookies between the ports
// of a host) and redirects to the web UI at /. The cookie then stands for
// the token. Its session is durable, named and revocable (SessionsFile,
// GET and DELETE /v1/sessions): it survives restarts and ends when revoked
// or unused for SessionTTL (90 days). On the --ui-listen listener, browsers
// get sessions by pairing instead (pair.go), under stricter rules
// (uilisten.go). A request
// with the cookie is refused (403) when its Sec-Fetch-Site says another
// site or origin sent it, and a write with it must carry the header
// X-Loam-Request (any value; see CSRFHeader) or the API's own Origin: a
// page of another origin can send neither. A used, expired or unknown
// login secret is answered 403 with a page saying how to get a new one.
//
// Paths outside /v1/, /login and /metrics serve the web UI's files
// (package ui) when the daemon has it (ServeUI), to anyone who passes the
// Host check: they hold no data; the data comes from /v1/ with the cookie.
//
// # Errors
//
// An error is answered with its HTTP status and a body of one sentence
// and a code naming its kind:
//
//	HTTP/1.1 404 Not Found
//	{"error":"key not found","code":"not_found"}
//
// Statuses: 400 bad input (bad_request, bad_ticket, malformed_id,
// bad_name), 401 no token, 403 wrong token, foreign Host or Origin
// (forbidden), no write grant (read_only), not an admin (not_admin); 404
// unknown key (not_found), space (unknown_space), endpoint (no_route) or
// blob (blob_not_found; unavailable: no peer could supply it); 409 space
// name taken (name_taken); 413 too large; 502 peer unreachable; 503 no
// network, or the daemon stopping; 500 a bad commit found by verify
// (invalid_log), damaged data, and anything else (internal). The one table
// that maps kinds to statuses and codes, both ways, is kinds, in errors.go;
// docs/api.md lists every code.
//
// # Endpoints
//
// SPACE is a space ID (spc_…) or the space's local name. KEY is the key,
// percent-escaped byte by byte; it may contain '/', which may stay as is
// unless the key has an empty, "." or ".." segment (the server would clean
// the path), in which case '/' and '.' are escaped as %2F and %2E.
// Keys and values appear in JSON as text ("key", "value") when they are
// UTF-8, and in standard base64 ("key_b64", "value_b64") otherwise; times
// are RFC 3339 in UTC.
//
//	GET    /v1/                      which node serves: {"api":"v1","peer":"12D3Koo…","author":"aut_…"}
//
//	GET    /v1/spaces                [{"id":"spc_…","name":"garden-club","created":"2025-05-01T10:00:00.123Z"}]
//	POST   /v1/spaces                {"name":"garden-club"} → 201 {"id","name","created"}
//	GET    /v1/spaces/SPACE          {"id","name","created"}
//
//	GET    /v1/spaces/SPACE/keys?prefix=tools/&start=&end=&limit=20&reverse=true
//	       → [{"key":"tools/drill","value":"cordless","author":"aut_…","time":"…"}, …]
//	       streamed in key order; a response cut short means an error
//	GET    /v1/spaces/SPACE/keys/KEY  → {"key","value" or "value_b64","author","time"};
//	       a key that holds a blob has "blob":{"id":"blb_…","size":204800,"type":"image/jpeg"}
//	       instead of a value (also in lists, watch events and batches)
//	GET    /v1/spaces/SPACE/keys/KEY?raw=true  the value's bytes, or the blob's
//	       (fetched from peers first if needed; Range requests work)
//	PUT    /v1/spaces/SPACE/keys/KEY  body: the value's raw bytes → 204 for up to
//	       64 KiB; a larger body is stored as a blob (typed by Content-Type
//	       unless application/octet-stream) → 200 {"id","size","type"}
//	DELETE /v1/spaces/SPACE/keys/KEY  → 204; 404 if the key is not there
//	POST   /v1/spaces/SPACE/batch
//	       [{"key":"a","value":"1"},{"key_b64":"/wA=","value_b64":"AAE="},{"key":"b","delete":true}]
//	       → {"ops":3,"commit":"cmt_…"}: one commit, all or nothing; a bad
//	       entry is 400, naming it ("entry 2: …"), and nothing is written
//
//	GET    /v1/spaces/SPACE/watch?prefix=chat/
//	       text/event-stream: a comment once the watch is registered, then
//	       one event per change from then on, until the client leaves:
//
//	       : watching
//
//	       data: {"op":"put","key":"chat/1","value":"hi","author":"aut_…","time":"…"}
//
//	       data: {"op":"del","key":"chat/0","author":"aut_…","time":"…"}
//
//	       event: resync
//	       data: {"op":"resync"}
//
//	       (resync: the client fell behind and changes were dropped; list
//	       the keys again. A client that reads nothing for 30 s is dropped.)
//
//	GET    /v1/spaces/SPACE/verify   {"commits":12,"ops":40,"authors":2,"forks":0};
//	       a bad history is an error (invalid_log) naming the first bad commit
//	GET    /v1/spaces/SPACE/heads    [{"author":"aut_…","seq":12,"commit":"cmt_…","time":"…"}]
//	POST   /v1/spaces/SPACE/invites  {"role":"write","expires":"24h","uses":1} → {"ticket":"loam2…"}
//	       (role read, write (the default), admin or seed; expires a Go
//	       duration, "" or "0" for none; uses 0 or absent for unlimited;
//	       this device must be an admin)
//	GET    /v1/spaces/SPACE/members  [{"author":"aut_…","invite":false,"role":"write",
//	                                   "grants":[{"role":"write","prefix":"chat/","expires":"…","uses":1,
//	                                              "granted_by":"aut_…","since":"…","via":"aut_…"}],
//	                                   "joined":["aut_…"],"revoked":{"by":"aut_…","at":"…","last_seq":4},
//	                                   "forked_at":7}]
//	POST   /v1/spaces/SPACE/revoke   {"target":"aut_…" or "loam2…"} → {"author":"aut_…","invite":false,"last_seq":4}
//	       (this device must be an admin of the whole space)
//	GET    /v1/spaces/SPACE/state    {"view_hash":"vh_…","keys":4,"role":"admin","private":false}
//	GET    /v1/spaces/SPACE/conflicts/KEY  [entries that lost to the visible one; a delete
//	                                   has "op":"del" and no value]
//	PUT    /v1/spaces/SPACE/blobs/KEY  the body stored as a blob whatever its size, a
//	                                   reference to it under KEY → {"id","size","type","sealed"}
//	POST   /v1/spaces/SPACE/synced?timeout=30s  204 once the space is in sync with a
//	                                   connected peer (after a join: the first sync is
//	                                   over); 504 timeout, 503 offline
//	POST   /v1/join?timeout=2m       {"ticket":"loam2…"} → {"id","name","created"} once
//	       joined; it waits for the space to arrive, until the client gives up
//	       or the timeout ends (504 timeout, once what the join added is removed)
//
//	GET    /v1/peers                 [{"peer":"12D3Koo…","author":"aut_…","addrs":["/ip4/…/tcp/…"],
//	                                   "direct":true,"connected":true,"spaces":["spc_…"],
//	                                   "bytes_in":1234,"bytes_out":567,"last_seen":"…"}]
//	POST   /v1/connect               {"addr":"/ip4/…/tcp/…/p2p/12D3Koo…"} → {"peer":"12D3Koo…"}
//	GET    /v1/status                {"peer","author","addrs",
//	                                  "spaces":[{"name","id","commits","heads":[…],"forked":[{"author","seq"}],
//	                                  "keys","view_hash","bytes":{"live","history","blobs"}}],
//	                                  "peers":1,"refusals":{"bad_proof":1},"disk":DISK}
//	GET    /v1/disk                  DISK: {"spaces":[{"name","id","live","history","blobs"}],
//	                                  "store","tables","obsolete","wal","unflushed","reserve",
//	                                  "blobs","total"}, in bytes
//	POST   /v1/compact               {"space":"garden"} or {} for the whole store:
//	       application/x-ndjson, progress lines {"done","total"} (key ranges)
//	       then {"result":{"before":DISK,"after":DISK}} or {"error":{"error","code"}}
//	GET    /v1/doctor                {"reachability":"private","dht":"private","routing_table":1,
//	                                  "bootstrap":["12D3Koo…"],"bootstrap_connected":[…],"relays":[…],
//	                                  "hole_punching":true,"connections":[{"peer","direct"}],
//	                                  "spaces":[{"name","id","announced","looked_up","found":[…],
//	                                  "peers":[{"peer","known","missing","extra"}],"error"}],
//	                                  "advice":["…one sentence each…"]}
//
//	POST   /v1/blobs                 body: the bytes → {"id":"blb_…","size","chunks","held","pinned":true}
//	GET    /v1/blobs                 [{"id","size","chunks","held","pinned"}]
//	GET    /v1/blobs/BLOB?type=image/png  the bytes, with Range support and an
//	       ETag; chunks not held are fetched from peers first
//	POST   /v1/blobs/BLOB/fetch      fetch from every connected peer and pin:
//	       application/x-ndjson, progress lines {"done","total","peers"} then
//	       {"done","total","peers","stats":{"fetched","peers":{"aut_…":n},"seconds"}}
//	       or {"error":{"error","code"}} (code "unavailable": no peer had it all)
//	PUT    /v1/blobs/BLOB/pin        → 204; DELETE /v1/blobs/BLOB/pin → 204
//	POST   /v1/blobs/gc              {"freed":1048576}: removes blobs no key references,
//	                                 not pinned and not in use
//
//	POST   /v1/logins                → 201 {"url":"http://127.0.0.1:7777/login?t=…","expires":"…"}
//	                                 a new one-time login URL for a browser, on the Host asked
//
//	GET    /metrics                  Prometheus text format (version 0.0.4): loam_sync_commits_applied_total,
//	                                 loam_commits_rejected_total{reason}, loam_sync_bytes_total{direction},
//	                                 loam_peers{type="direct"|"relayed"}, loam_blob_bytes_total{direction}, …
//	                                 (the list and meanings are in docs/api.md); same access rules as /v1/
//
// "commits" in status is the number of commits held: the sum of the
// heads' seqs.
package api
