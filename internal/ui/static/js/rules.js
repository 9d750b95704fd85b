// rules.js: the apps declare their rules (docs/apps.md, "App rules").
// The UI has no moment where a space is "set up" for an app, so the first
// time an admin (over the app's whole prefix) opens an app in a public
// space, the app declares the rules Loam ships for it and for profiles
// (POST /v1/spaces/SPACE/schemas {"app": NAME}). From then on every
// replica enforces them: a message under another member's name is refused
// everywhere, not only ignored by readers. A version as new already in
// force (409 rules_version) is fine: someone declared them, or retired
// them on purpose, and the app leaves that alone. Private spaces keep the
// readers' rules (their keys are sealed: no replica can check them).
import { api } from './api.js';
import { isAdminOf, notice, errorText } from './dom.js';

// asked maps space + app to the declaration this page made or is making
// (a promise of whether it declared), so that two mounts of an app at
// once ask once; a failed one is forgotten, for the next visit to retry.
const asked = new Map();

// declareRules declares, for each app in apps, the rules Loam ships, if
// this device (me) is an admin over the page's prefix and over the app's
// own (an app's rules rule the keys under its name: "profile" those under
// profile/, which an admin of chat/ alone may not declare), and they are
// not in force yet. It resolves to the apps it declared.
export async function declareRules(space, me, members, prefix, apps) {
  if (space.private || !isAdminOf(members, me, prefix)) return [];
  const out = [];
  for (const app of apps) {
    if (!isAdminOf(members, me, app + '/')) continue;
    const k = space.id + '/' + app;
    if (!asked.has(k)) {
      asked.set(k, api.declareRules(space.id, app).then(() => true, (e) => {
        if (e.code === 'rules_version') return false;
        asked.delete(k);
        throw e;
      }));
    }
    if (await asked.get(k)) out.push(app);
  }
  return out;
}

// appRules is declareRules for an app's page, in the background: quiet
// when it works (the page is the same, the rules are in the space), a
// notice when it fails (but offline: the next visit tries again).
export function appRules(space, me, members, prefix, apps) {
  declareRules(space, me, members, prefix, apps).catch((e) => {
    if (e.code !== 'offline') notice('The app rules could not be declared: ' + errorText(e), 'error');
  });
}
