// pick.js: the space an app works in, chosen once and remembered in
// localStorage per app.
import { api } from './api.js';
import { h, field, errorText } from './dom.js';

// pickSpace renders a space chooser into el and resolves to the chosen
// space ({id, name}). With a remembered choice that still exists, it
// resolves at once and renders a small switcher instead.
export async function spacePicker(app, onChange) {
  const spaces = await api.spaces();
  const key = 'loam.' + app + '.space';
  let cur = localStorage.getItem(key);
  if (!spaces.some((s) => s.id === cur)) {
    const pref = spaces.find((s) => s.name === 'community') || spaces[0];
    cur = pref ? pref.id : null;
  }
  const sel = h('select', {
    onchange: () => { localStorage.setItem(key, sel.value); onChange(spaces.find((s) => s.id === sel.value)); },
  }, spaces.map((s) => h('option', { value: s.id, selected: s.id === cur }, s.name || s.id)));
  const el = h('div', { class: 'picker' }, spaces.length ? field('Space', sel) : null);
  return { el, space: spaces.find((s) => s.id === cur) || null };
}

// noSpaces is shown when there is no space yet.
export function noSpaces() {
  return h('section', { class: 'card narrow' },
    h('h1', {}, 'No space yet'),
    h('p', {}, 'The apps keep their data in a space. Create one, or join one with an invite ticket, on the ',
      h('a', { href: '#/spaces' }, 'Spaces'), ' page.'));
}

export { errorText };
