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
// Erased values do not stay in the data cache (#14): a key read that
// answers 410 erased drops the key's cached reads; a listing cached with
// erased entries drops their keys' cached reads; and the page posts
// {type: 'forget', space, entry, deleted} for each watch event that
// erases, deletes or overwrites a key it saw (api.js, forgetCached): the
// key's cached reads go, and the cached listings that hold the key get
// the new entry (or lose it, deleted).
const SHELL = 'loam-shell-v1';
const DATA = 'loam-data-v1';
const SHELL_FILES = [
  '/', '/index.html', '/pair.html', '/style.css', '/favicon.svg', '/manifest.json', '/icon-192.png', '/icon-512.png',
  '/js/app.js', '/js/api.js', '/js/dom.js', '/js/pick.js', '/js/dashboard.js', '/js/spaces.js',
  '/js/chat.js', '/js/tools.js', '/js/people.js', '/js/sessions.js', '/js/offline.js', '/js/pair.js',
  '/js/rules.js', '/js/may.js', '/js/badges.js',
  '/js/board.js',
  '/js/energy.js',
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

// keysPath returns the space and key of a data cache URL's path:
// {space, key} for a key read (/v1/spaces/S/keys/K), {space} for a
// listing (/v1/spaces/S/keys), or null.
function keysPath(url) {
  let p;
  try {
    p = decodeURIComponent(new URL(url).pathname);
  } catch {
    return null;
  }
  const m = p.match(/^\/v1\/spaces\/([^/]+)\/keys(?:\/(.+))?$/s);
  return m ? { space: m[1], key: m[2] } : null;
}

// dropKeys deletes the cached reads of the keys (a Set) of space.
async function dropKeys(space, keys) {
  if (!keys.size) return;
  const cache = await caches.open(DATA);
  for (const req of await cache.keys()) {
    const k = keysPath(req.url);
    if (k && k.space === space && k.key !== undefined && keys.has(k.key)) await cache.delete(req);
  }
}

// forget makes entry the state of its key in the data cache: its cached
// reads go; in each cached listing of the space that holds the key, the
// key's element becomes entry (or goes, when deleted).
async function forget(space, entry, deleted) {
  await dropKeys(space, new Set([entry.key]));
  const cache = await caches.open(DATA);
  for (const req of await cache.keys()) {
    const k = keysPath(req.url);
    if (!k || k.space !== space || k.key !== undefined) continue;
    const hit = await cache.match(req);
    if (!hit) continue;
    let list;
    try {
      list = await hit.json();
    } catch {
      await cache.delete(req); // not a listing we can fix: drop it
      continue;
    }
    if (!Array.isArray(list)) continue;
    const i = list.findIndex((x) => x && x.key === entry.key);
    if (i < 0) continue;
    if (deleted) list.splice(i, 1); else list[i] = entry;
    const headers = new Headers(hit.headers);
    headers.delete('Content-Length');
    await cache.put(req, new Response(JSON.stringify(list), { status: hit.status, statusText: hit.statusText, headers }));
  }
}

// forgetting orders the forget messages: each rewrites cached listings.
let forgetting = Promise.resolve();

self.addEventListener('message', (e) => {
  const m = e.data;
  if (!m || m.type !== 'forget' || typeof m.space !== 'string' || !m.entry || typeof m.entry.key !== 'string') return;
  forgetting = forgetting.then(() => forget(m.space, m.entry, !!m.deleted)).catch((err) => console.warn('forget:', err.message));
  e.waitUntil(forgetting);
});

// forgetErased drops the cached reads of the keys a listing shows erased.
async function forgetErased(space, resp) {
  let list;
  try {
    list = await resp.json();
  } catch {
    return;
  }
  if (!Array.isArray(list)) return;
  await dropKeys(space, new Set(list.filter((x) => x && x.erased && typeof x.key === 'string').map((x) => x.key)));
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
    const k = api ? keysPath(req.url) : null;
    if (api && resp.status === 401) {
      e.waitUntil(caches.delete(DATA));
    } else if (k && k.key !== undefined && resp.status === 410) {
      e.waitUntil(forgetting = forgetting.then(() => dropKeys(k.space, new Set([k.key]))).catch(() => {})); // erased
    } else if (resp.status === 200 || (api && resp.status === 404)) {
      // An API's 404 is an answer too (no identity yet, no such key): the
      // page needs it offline as much as a 200.
      const copy = resp.clone();
      e.waitUntil(caches.open(cache).then((c) => c.put(req, copy)));
      if (k && k.key === undefined && resp.status === 200) {
        const list = resp.clone();
        e.waitUntil(forgetting = forgetting.then(() => forgetErased(k.space, list)).catch(() => {}));
      }
    }
    return resp;
  })());
});
