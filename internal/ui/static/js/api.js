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

async function call(method, path, { body, json, type, query } = {}) {
  const headers = {};
  if (method !== 'GET' && method !== 'HEAD') headers['X-Loam-Request'] = '1';
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
  const resp = await fetch(url, { method, headers, body, credentials: 'same-origin' });
  if (!resp.ok) {
    let code = 'error', msg = resp.status + ' ' + resp.statusText;
    try {
      const e = await resp.json();
      code = e.code || code;
      msg = e.error || msg;
    } catch { /* not JSON */ }
    if (resp.status === 401) onUnauthorized(msg);
    throw new APIError(resp.status, code, msg);
  }
  return resp;
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
  batch: (space, ops) => callJSON('POST', sp(space) + '/batch', { json: ops }),
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
// with each change; onState gets 'live' or 'reconnecting'. It returns a
// function that closes the stream. The browser's EventSource reconnects
// by itself; onState('live') after a reconnection is the caller's cue to
// reload what it shows, since changes made meanwhile were not streamed.
export function watch(space, prefix, onEvent, onState = () => {}) {
  const url = '/v1' + sp(space) + '/watch' + (prefix ? '?prefix=' + encodeURIComponent(prefix) : '');
  const es = new EventSource(url);
  es.onopen = () => onState('live');
  es.onerror = () => onState('reconnecting');
  es.onmessage = (m) => {
    try {
      onEvent(JSON.parse(m.data));
    } catch (e) {
      console.error('watch event', e);
    }
  };
  return () => es.close();
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
