// sw.js: the service worker that makes the web UI an app on a phone's
// home screen and honest offline. It keeps two caches:
//   the shell (pages, styles, scripts, icons): fetched again when online,
//     served from the cache when the node is unreachable;
//   the last-seen data: every API read (GET /v1/…, but the live watch
//     streams) answered 200 or 404, served when the node is unreachable with
//     the header X-Loam-Offline, so the page shows it read-only under a
//     "your home node is not reachable" banner (see js/offline.js).
// Writes are never cached or queued: offline, they fail and say so.
// A 401 (the session ended: revoked, expired) empties the data cache, so
// a revoked phone does not keep showing what it saw.
const SHELL = 'loam-shell-v1';
const DATA = 'loam-data-v1';
const SHELL_FILES = [
  '/', '/index.html', '/pair.html', '/style.css', '/favicon.svg', '/manifest.json', '/icon-192.png', '/icon-512.png',
  '/js/app.js', '/js/api.js', '/js/dom.js', '/js/pick.js', '/js/dashboard.js', '/js/spaces.js',
  '/js/chat.js', '/js/tools.js', '/js/people.js', '/js/sessions.js', '/js/offline.js', '/js/pair.js',
];

self.addEventListener('install', (e) => {
  e.waitUntil(caches.open(SHELL).then((c) => c.addAll(SHELL_FILES)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (e) => {
  e.waitUntil((async () => {
    for (const k of await caches.keys()) {
      if (k !== SHELL && k !== DATA) await caches.delete(k);
    }
    await self.clients.claim();
  })());
});

function offlineAnswer() {
  return new Response(JSON.stringify({ error: 'your home node is not reachable, and this phone has not seen this yet', code: 'offline' }), {
    status: 503, headers: { 'Content-Type': 'application/json', 'X-Loam-Offline': '1' },
  });
}

// fromCache answers with the cached response, marked as offline.
async function fromCache(cache, req) {
  const hit = await (await caches.open(cache)).match(req, { ignoreVary: true });
  if (!hit) return null;
  const headers = new Headers(hit.headers);
  headers.set('X-Loam-Offline', '1');
  return new Response(hit.body, { status: hit.status, statusText: hit.statusText, headers });
}

self.addEventListener('fetch', (e) => {
  const req = e.request;
  const url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== self.location.origin) return; // writes go to the node, or fail
  if (url.pathname.endsWith('/watch') || url.pathname === '/login' || url.pathname === '/metrics') return;
  const api = url.pathname === '/v1' || url.pathname.startsWith('/v1/');
  e.respondWith((async () => {
    const cache = api ? DATA : SHELL;
    let resp;
    try {
      resp = await fetch(req);
    } catch {
      // Unreachable: what this device saw last; a page it never opened
      // falls back to the app's.
      const hit = await fromCache(cache, req) || (req.mode === 'navigate' ? await fromCache(SHELL, '/') : null);
      return hit || (api ? offlineAnswer() : Response.error());
    }
    if (api && resp.status === 401) {
      e.waitUntil(caches.delete(DATA));
    } else if (resp.status === 200 || (api && resp.status === 404)) {
      // An API's 404 is an answer too (no identity yet, no such key): the
      // page needs it offline as much as a 200.
      const copy = resp.clone();
      e.waitUntil(caches.open(cache).then((c) => c.put(req, copy)));
    }
    return resp;
  })());
});
