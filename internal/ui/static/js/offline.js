// offline.js: the app on a phone's home screen. It registers the service
// worker (sw.js) and shows a banner while the home node is unreachable:
// the page then shows what this browser saw last, read-only, and goes
// live again by itself when the node answers (the watch streams
// reconnect; every API answer tells whether it came from the node or
// from the cache: see api.js).

const banner = document.createElement('div');
banner.id = 'offline-banner';
banner.className = 'offline-banner';
banner.setAttribute('role', 'status');
banner.hidden = true;
banner.textContent = 'Your home node is not reachable. This is what this device saw last, read-only; it reconnects by itself.';
document.body.prepend(banner);

// setOffline shows or hides the banner and makes the page read-only.
export function setOffline(off) {
  banner.hidden = !off;
  document.body.classList.toggle('offline', off);
}

window.addEventListener('loam-reach', (e) => setOffline(!!e.detail.offline));
window.addEventListener('offline', () => setOffline(true));

if ('serviceWorker' in navigator && window.isSecureContext) {
  navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch((err) => console.warn('service worker:', err.message));
}
