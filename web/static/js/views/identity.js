// Who the token endpoint takes the signed-in user for: the user name in
// the header becomes a disclosure button whose panel lists the groups,
// realm roles and client roles of the sign-in token's rs_identity claim
// (auth mode oidc). Escape or a click elsewhere closes it.

import { h } from '../dom.js';

const PANEL = 'identity-panel';

/** values lists texts, or says "none". */
function values(items) {
  return items.length ? h('ul', { class: 'plain' }, items.map((t) => h('li', {}, t))) : h('span', { class: 'muted' }, 'none');
}

/**
 * identityMenu returns {element, close} for user (the name signed in
 * with) and identity (identityOf of the sign-in token, not anonymous).
 * The button holds [data-user] with the user name, as the plain name did.
 */
export function identityMenu(user, identity) {
  const button = h(
    'button',
    { type: 'button', class: 'btn btn-small btn-user', id: 'identity-toggle', 'aria-expanded': 'false', 'aria-controls': PANEL, title: 'Your groups and roles' },
    h('strong', { 'data-user': true }, user),
    h('span', { class: 'caret', 'aria-hidden': 'true' }, '▾'),
  );
  const row = (label, key, value) => h('div', {}, h('dt', {}, label), h('dd', { 'data-identity': key }, value));
  const panel = h(
    'div',
    { class: 'identity-panel', id: PANEL, role: 'region', 'aria-label': 'Your identity', hidden: true },
    h(
      'dl',
      { class: 'props' },
      row('User', 'user', identity.user || user),
      row('Groups', 'groups', values(identity.groups)),
      row('Realm roles', 'realm-roles', values(identity.realmRoles)),
      row('Client roles', 'client-roles', values(identity.clientRoles.flatMap((c) => c.roles.map((r) => `${c.client}: ${r}`)))),
    ),
  );
  const element = h('div', { class: 'identity' }, button, panel);

  const isOpen = () => button.getAttribute('aria-expanded') === 'true';
  function setOpen(open) {
    button.setAttribute('aria-expanded', String(open));
    panel.hidden = !open;
  }
  button.addEventListener('click', () => setOpen(!isOpen()));
  element.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape' || !isOpen()) return;
    e.preventDefault();
    setOpen(false);
    button.focus();
  });
  // One listener on the document, dropped once this menu left the page.
  const outside = (e) => {
    if (!element.isConnected) {
      document.removeEventListener('click', outside);
      return;
    }
    if (isOpen() && !element.contains(e.target)) setOpen(false);
  };
  document.addEventListener('click', outside);

  return { element, close: () => setOpen(false) };
}
