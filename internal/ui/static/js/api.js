// api.js: the daemon's /v1/ API, called with the session cookie.
// Every write carries the X-Loam-Request header the API requires of
// cookie-authenticated writes (see package api, "Browsers").

export class APIError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// onUnauthorized is called when the session is missing or expired.
export let onUnauthorized = () => {};
export function setOnUnauthorized(f) { onUnauthorized = f; }

// csrfToken is the session's CSRF token, from the cookie the daemon set
// with the session (required on the home-network listener); cookies are
// per host, not per port, hence the port in the name.
function csrfToken() {
  const port = location.port || (location.protocol === 'https:' ? '443' : '80');
  for (const c of document.cookie.split(/;\s*/)) {
    const [k, v] = c.split('=');
    if (k === '__Host-loam_csrf_' + port || k === 'loam_csrf_' + port) return v;
  }
  return '1';
}

// denials are the error codes of a write the space's grants refuse.
const denials = new Set(['denied', 'revoked', 'not_counted', 'unauthorized_commit']);

async function call(method, path, { body, json, type, query } = {}) {
  const headers = {};
  if (method !== 'GET' && method !== 'HEAD') headers['X-Loam-Request'] = csrfToken();
  if (json !== undefined) {
    body = JSON.stringify(json);
    headers['Content-Type'] = 'application/json';
  } else if (type) {
    headers['Content-Type'] = type;
  }
  let url = '/v1' + path;
  if (query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
    }
    const s = q.toString();
    if (s) url += '?' + s;
  }
  let resp;
  try {
    // no-store: a key's raw value may be served with a long cache life
    // (a blob's bytes), and an erased value must not stay in the
    // browser's HTTP cache (offline reads come from sw.js's cache, which
    // forgets erased values: see forgetCached).
    resp = await fetch(url, { method, headers, body, credentials: 'same-origin', cache: 'no-store' });
  } catch (e) {
    reach(true);
    throw new APIError(0, 'offline', 'your home node is not reachable: try again when it is');
  }
  reach(resp.headers.has('X-Loam-Offline')); // answered from the service worker's cache
  if (!resp.ok) {
    let code = 'error', msg = resp.status + ' ' + resp.statusText;
    try {
      const e = await resp.json();
      code = e.code || code;
      msg = e.error || msg;
    } catch { /* not JSON */ }
    if (resp.status === 401) onUnauthorized(msg, code);
    // A write this device may no longer make (revoked, a role changed):
    // the pages ask the members again (people.js) and hide what it
    // cannot use.
    if (resp.status === 403 && denials.has(code)) window.dispatchEvent(new CustomEvent('loam-denied', { detail: { code } }));
    throw new APIError(resp.status, code, msg);
  }
  return resp;
}

// reach tells the page (js/offline.js) whether the node answered.
function reach(offline) {
  window.dispatchEvent(new CustomEvent('loam-reach', { detail: { offline } }));
}

async function callJSON(method, path, opts) {
  const resp = await call(method, path, opts);
  if (resp.status === 204) return null;
  return resp.json();
}

// keyPath escapes a key for a path: byte by byte, '/' kept unless a
// segment is empty, "." or "..".
export function keyPath(key) {
  const segs = key.split('/');
  if (segs.some((s) => s === '' || s === '.' || s === '..')) {
    return encodeURIComponent(key).replace(/\./g, '%2E');
  }
  return segs.map(encodeURIComponent).join('/');
}

const sp = (space) => '/spaces/' + encodeURIComponent(space);

export const api = {
  hello: () => callJSON('GET', '/'),
  status: () => callJSON('GET', '/status'),
  peers: () => callJSON('GET', '/peers'),
  spaces: () => callJSON('GET', '/spaces'),
  createSpace: (name, priv) => callJSON('POST', '/spaces', { json: { name, private: !!priv } }),
  join: (ticket) => callJSON('POST', '/join', { json: { ticket } }),
  space: (space) => callJSON('GET', sp(space)),
  verify: (space) => callJSON('GET', sp(space) + '/verify'),
  heads: (space) => callJSON('GET', sp(space) + '/heads'),
  members: (space) => callJSON('GET', sp(space) + '/members'),
  ledger: (space) => callJSON('GET', sp(space) + '/ledger'), // the energy exchange's (energy.js)
  // rules lists the app rules in force; declareRules declares those Loam
  // ships for app (chat, tools, profile).
  rules: (space) => callJSON('GET', sp(space) + '/schemas'),
  declareRules: (space, app) => callJSON('POST', sp(space) + '/schemas', { json: { app } }),
  // polls lists the community board's polls with their tallies (board.js).
  polls: (space) => callJSON('GET', sp(space) + '/polls'),
  // revoke revokes a member (aut_…) or an invite (its loam2… ticket).
  revoke: (space, target) => callJSON('POST', sp(space) + '/revoke', { json: { target } }),
  invite: (space, role, expires) => callJSON('POST', sp(space) + '/invites', { json: { role, expires } }),
  // keys lists entries: q has prefix, start, end, limit, reverse.
  keys: (space, q = {}) => callJSON('GET', sp(space) + '/keys', { query: q }),
  get: (space, key) => callJSON('GET', sp(space) + '/keys/' + keyPath(key)),
  // getRaw returns the value's (or blob's) bytes as a Blob of type.
  getRaw: async (space, key, type) => {
    const resp = await call('GET', sp(space) + '/keys/' + keyPath(key), { query: { raw: 'true' } });
    const b = await resp.blob();
    return type ? new Blob([b], { type }) : b;
  },
  // put stores a value: a string, a Blob or an object (as JSON). A body
  // over 64 KiB becomes a blob.
  put: (space, key, value, type) => {
    let body = value;
    if (typeof value === 'object' && !(value instanceof Blob)) {
      body = JSON.stringify(value);
      type = 'application/json';
    }
    return callJSON('PUT', sp(space) + '/keys/' + keyPath(key), { body, type: type || 'application/octet-stream' });
  },
  del: (space, key) => callJSON('DELETE', sp(space) + '/keys/' + keyPath(key)),
  // erase erases the values of every write to key on every replica
  // (o.superseded: only the writes a later one superseded, an edit's old
  // value). It answers {erased: N}; a key with nothing left to erase
  // answers 404 nothing_to_erase.
  erase: (space, key, o = {}) => callJSON('POST', sp(space) + '/erase', { json: { key, superseded: !!o.superseded || undefined } }),
  // eraseSome is erase where nothing left to erase is not an error.
  eraseSome: async (space, key, o = {}) => {
    try {
      return await api.erase(space, key, o);
    } catch (e) {
      if (e.code === 'nothing_to_erase') return { erased: 0 };
      throw e;
    }
  },
  batch: (space, ops) => callJSON('POST', sp(space) + '/batch', { json: ops }),
  sessions: () => callJSON('GET', '/sessions'),
  revokeSession: (name) => callJSON('DELETE', '/sessions/' + encodeURIComponent(name)),
  // identity is this device's person (404 no_identity without one).
  identity: () => callJSON('GET', '/identity'),
  // profile is this device's person's profile: {name, avatar}.
  profile: () => callJSON('GET', '/identity/profile'),
  // setProfile sets it in every space this device may write to.
  setProfile: (name, avatar) => callJSON('PUT', '/identity/profile', { json: { name, avatar: avatar || '' } }),
};

// listAll lists every entry under prefix, page by page.
export async function listAll(space, prefix, pageSize = 1000) {
  const out = [];
  let start = '';
  for (;;) {
    const page = await api.keys(space, { prefix, start, limit: pageSize });
    out.push(...page);
    if (page.length < pageSize) return out;
    start = page[page.length - 1].key + '\u0000';
  }
}

// watch opens the space's watch stream under prefix and calls onEvent
// with each change; onState gets 'live', 'reconnecting' or 'resync'. It
// returns a function that closes the stream. The browser's EventSource
// reconnects by itself; onState('live') after a reconnection, and
// 'resync' (the daemon dropped changes this stream fell behind on), are
// the caller's cue to reload what it shows: see live.
export function watch(space, prefix, onEvent, onState = () => {}) {
  const url = '/v1' + sp(space) + '/watch' + (prefix ? '?prefix=' + encodeURIComponent(prefix) : '');
  const es = new EventSource(url);
  es.onopen = () => onState('live');
  es.onerror = () => {
    onState('reconnecting');
    // Closed for good (an HTTP error, such as a revoked session's 401):
    // a plain request says why.
    if (es.readyState === EventSource.CLOSED) api.hello().catch(() => {});
  };
  es.addEventListener('resync', () => onState('resync'));
  es.onmessage = (m) => {
    try {
      onEvent(JSON.parse(m.data));
    } catch (e) {
      console.error('watch event', e);
    }
  };
  return () => es.close();
}

// forgetCached tells the service worker (sw.js) that entry is now the
// key's state (erased, deleted, or a new value that superseded one the
// device saw): it drops its offline copies of the key's value and puts
// entry in the listings it keeps, so erased and superseded text is not
// served offline later.
export function forgetCached(space, entry) {
  const sw = navigator.serviceWorker && navigator.serviceWorker.controller;
  if (!sw || !entry || !entry.key) return;
  const { op, ...e } = entry;
  sw.postMessage({ type: 'forget', space, entry: e, deleted: op === 'del' });
}

// live keeps a view of the entries under prefix current. It opens the
// watch, lists the entries once the stream is registered, and lists them
// again after a reconnection or a resync, when the stream missed changes:
// the view is then reset and rebuilt from the list, and the events that
// arrived while the list loaded are applied after it, in order (so a
// change made meanwhile is not undone by an older listing, and a key
// deleted meanwhile goes). apply(e) applies one entry or event, reset()
// empties the view, changed() redraws; onState gets 'live' or
// 'reconnecting'. It returns {stop, loaded}: a function that closes the
// stream, and a promise of the first listing. Each event that erases,
// deletes or overwrites a key seen here goes to forgetCached.
export function live(space, prefix, { apply, reset, changed, onState = () => {} }) {
  const seen = new Set(); // keys listed or put: a later event supersedes them
  const note = (e) => {
    if (!e.key) return;
    if (e.erased || e.op === 'del' || seen.has(e.key)) forgetCached(space, e);
    if (e.op === 'del') seen.delete(e.key); else seen.add(e.key);
  };
  let held = []; // events held while a listing loads, in order; null when none loads
  let again = false; // a resync came while a listing loaded: it is stale
  let loading = null;
  function load() {
    if (loading) {
      held = [];
      again = true;
      return loading;
    }
    held = held || [];
    loading = (async () => {
      try {
        for (;;) {
          again = false;
          const list = await listAll(space, prefix);
          if (again) continue;
          reset();
          for (const e of list) { seen.add(e.key); apply(e); }
          for (const e of held) apply(e);
          return;
        }
      } finally {
        held = null;
        loading = null;
        changed();
      }
    })();
    return loading;
  }
  let registered;
  const ready = new Promise((r) => { registered = r; });
  let down = false;
  const stop = watch(space, prefix, (e) => {
    note(e);
    if (held) held.push(e);
    else { apply(e); changed(); }
  }, (s) => {
    if (s === 'resync') { load().catch(() => {}); return; }
    if (s === 'live') {
      registered();
      if (down) load().catch(() => {}); // catch up on what the stream missed
    }
    down = s !== 'live';
    onState(s);
  });
  // List once the stream is registered, so no change falls in between.
  const loaded = Promise.race([ready, new Promise((r) => setTimeout(r, 3000))]).then(() => load());
  return { stop, loaded };
}

// parseJSON returns an entry's value parsed as JSON, or null.
export function parseJSON(e) {
  if (!e || typeof e.value !== 'string') return null;
  try {
    return JSON.parse(e.value);
  } catch {
    return null;
  }
}
