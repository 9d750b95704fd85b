// pair.js: the pair page. The pairing URL 'loam pair' prints carries the
// code and the fingerprints of the certificate and of the node's CA in
// its fragment (#code=…&fp=…&ca=…), which never reaches the server: the
// page shows the fingerprints, posts the code at once, takes the fragment
// out of the address bar and goes to the apps. Typing the code is the
// other way.
//
// "Trust this home node": a browser that does not trust the node's
// certificate (the phone has not installed the node's CA) cannot register
// the service worker, so it cannot install the app. Paired, such a
// browser stays on this page, pointed at the trust step, with a link to
// the apps; a browser that trusts the node goes to the apps at once.

const form = document.getElementById('pair-form');
const next = document.getElementById('pair-next');
const trustState = document.getElementById('trust-state');
const input = document.getElementById('code');
const status = document.getElementById('pair-status');

// fpHex shows a base64url SHA-256 as hex pairs, as certificate viewers do.
function fpHex(b64) {
  try {
    const bin = atob(b64.replace(/-/g, '+').replace(/_/g, '/'));
    return Array.from(bin, (c) => c.charCodeAt(0).toString(16).padStart(2, '0')).join(':').toUpperCase();
  } catch {
    return '';
  }
}

async function pair(code) {
  status.className = '';
  status.textContent = 'Pairing…';
  let resp;
  try {
    resp = await fetch('/v1/pair', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ code }),
      credentials: 'same-origin',
    });
  } catch {
    status.className = 'error';
    status.textContent = 'The node did not answer: is this phone on the home network, and the daemon running?';
    return;
  }
  let body = {};
  try { body = await resp.json(); } catch { /* not JSON */ }
  if (!resp.ok) {
    status.className = 'error';
    status.textContent = body.error || ('Pairing failed: ' + resp.status);
    input.focus();
    return;
  }
  if (await trusted()) {
    status.textContent = 'Paired as “' + body.name + '”. Opening your apps…';
    location.replace('/#/');
    return;
  }
  status.textContent = 'Paired as “' + body.name + '”. To install the apps on this phone, trust this home node first (below).';
  next.hidden = false;
  document.getElementById('trust').scrollIntoView({ behavior: 'smooth' });
}

// trusted reports whether this browser trusts the node's certificate:
// whether it registers the service worker (browsers refuse to for a
// certificate they do not trust).
let trust;
function trusted() {
  if (!trust) {
    trust = ('serviceWorker' in navigator && window.isSecureContext)
      ? Promise.race([
        navigator.serviceWorker.register('/sw.js', { scope: '/' }).then(() => true, () => false),
        new Promise((resolve) => setTimeout(() => resolve(false), 10000)), // no answer: as if not
      ])
      : Promise.resolve(false);
  }
  return trust;
}

// showCA shows the CA's fingerprint: the one the pairing URL carries
// (from the terminal), or else the one the node says.
async function showCA(b64) {
  let hex = b64 ? fpHex(b64) : '';
  if (!hex) {
    try {
      const resp = await fetch('/loam-ca.crt', { method: 'HEAD' });
      hex = resp.ok ? (resp.headers.get('X-Loam-CA-SHA256') || '') : '';
    } catch { /* the node is away: nothing to show */ }
  }
  if (hex) {
    document.getElementById('ca-fp').textContent = hex;
    document.getElementById('ca').hidden = false;
  }
}

// The instructions of this phone's platform are open.
const ua = navigator.userAgent;
if (/Android/.test(ua)) document.getElementById('trust-android').open = true;
if (/iPhone|iPad|iPod/.test(ua) || (/Macintosh/.test(ua) && navigator.maxTouchPoints > 1)) document.getElementById('trust-ios').open = true;

const params = new URLSearchParams(location.hash.replace(/^#/, ''));
history.replaceState(null, '', location.pathname); // no code left in the address bar or history
showCA(params.get('ca'));
trusted().then((ok) => {
  trustState.textContent = ok
    ? 'This browser trusts this home node: the apps can be installed.'
    : 'This browser does not trust this home node yet.';
});
const fp = params.get('fp');
if (fp) {
  document.getElementById('fp').textContent = fpHex(fp);
  document.getElementById('fingerprint').hidden = false;
}
form.addEventListener('submit', (e) => {
  e.preventDefault();
  pair(input.value);
});
const code = params.get('code');
if (code) {
  input.value = code.length === 8 ? code.slice(0, 4) + '-' + code.slice(4) : code;
  pair(code);
}
