// pair.js: the pair page. The pairing URL 'loam pair' prints carries the
// code and the certificate's fingerprint in its fragment (#code=…&fp=…),
// which never reaches the server: the page shows the fingerprint, posts
// the code at once, takes the fragment out of the address bar and goes to
// the apps. Typing the code is the other way.

const form = document.getElementById('pair-form');
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
  status.textContent = 'Paired as “' + body.name + '”. Opening your apps…';
  location.replace('/#/');
}

const params = new URLSearchParams(location.hash.replace(/^#/, ''));
history.replaceState(null, '', location.pathname); // no code left in the address bar or history
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
