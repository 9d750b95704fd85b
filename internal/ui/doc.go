// Package ui is Loam's web UI: static HTML, CSS and JavaScript modules
// embedded in the binary, served by the daemon's API server (see
// api.Server.ServeUI) at /. Nothing is built or downloaded at run time: no
// build step, no CDN, no external fonts; the pages talk only to the
// daemon's /v1/ API, authenticated by the session cookie of the one-time
// login URL.
//
// The UI has a dashboard (spaces, peers direct or relayed, sync state), a
// space browser (keys, heads and verification, invites, joining) and two
// apps whose data lives in ordinary spaces under the key layouts of
// docs/apps.md: Chat (prefix chat/) and the Tool library (prefix tools/).
package ui
