// Entry point: loads the runtime settings from /ui/config.json, builds the
// page frame and routes URLs to views. Navigation uses the History API, so
// every repository, tag and digest has its own URL and back/forward work.

import { clear, h, icon } from './dom.js';
import { ApiError } from './lib/apierror.js';
import { identityOf } from './lib/jwt.js';
import { parseRoute } from './lib/route.js';
import { Registry } from './registry.js';
import { Session } from './session.js';
import { webStorage } from './storage.js';
import { changeTheme, themeChoice } from './theme.js';
import { catalogView } from './views/catalog.js';
import { problem } from './views/common.js';
import { identityMenu } from './views/identity.js';
import { manifestView } from './views/manifest.js';
import { notFoundView } from './views/notfound.js';
import { repositoryView } from './views/repository.js';
import { signinView } from './views/signin.js';
import { focusFilterOnFind } from './views/toolbar.js';

const VIEWS = { catalog: catalogView, repository: repositoryView, manifest: manifestView, notfound: notFoundView };
const THEME_LABEL = { auto: 'Theme: automatic', light: 'Theme: light', dark: 'Theme: dark' };

async function loadConfig() {
  let res;
  try {
    res = await fetch('/ui/config.json', { cache: 'no-store', credentials: 'omit' });
  } catch {
    throw new ApiError('network', 'the UI settings could not be loaded');
  }
  if (!res.ok) throw new ApiError('server', `/ui/config.json: status ${res.status}`);
  return res.json();
}

function start(config) {
  const doFetch = (...args) => fetch(...args);
  const session = config.authMode !== 'none' ? new Session({ fetch: doFetch, storage: webStorage('sessionStorage'), tokenPath: config.tokenPath, service: config.service }) : null;
  const registry = new Registry({ fetch: doFetch, session });
  const main = document.getElementById('main');
  const flashBox = document.getElementById('flash');
  let controller = null;

  // Header: title, who is signed in, sign out, theme.
  const userBox = h('div', { class: 'user', id: 'user' });
  const themeBtn = h('button', { type: 'button', class: 'btn btn-icon', id: 'theme' });
  const showTheme = () => {
    const theme = themeChoice();
    themeBtn.replaceChildren(icon(theme === 'dark' ? 'moon' : theme === 'light' ? 'sun' : 'auto'));
    themeBtn.setAttribute('aria-label', `${THEME_LABEL[theme]} (click to change)`);
    themeBtn.title = THEME_LABEL[theme];
  };
  themeBtn.addEventListener('click', () => {
    changeTheme();
    showTheme();
  });
  showTheme();
  const header = document.getElementById('topbar');
  clear(header).append(
    h('a', { class: 'brand', href: '/', 'data-nav': true }, h('span', { class: 'logo', 'aria-hidden': 'true' }), config.title),
    h('div', { class: 'spacer' }),
    userBox,
    themeBtn,
  );
  document.getElementById('version').textContent = config.version ? `registry-stack ${config.version}` : 'registry-stack';

  // The user box is rebuilt only when the user changes; navigating closes
  // the identity panel. With an rs_identity claim in the sign-in token
  // (auth mode oidc) the name opens a panel of groups and roles; without
  // one (keycloak mode) it stays plain text.
  let shownUser = '';
  let shownFor = 0; // bumped each time the box is rebuilt
  let menu = null;
  const showUser = () => {
    const user = session && session.signedIn ? session.user : '';
    if (user && user === shownUser) {
      if (menu) menu.close();
      return;
    }
    shownUser = user;
    menu = null;
    const mine = ++shownFor;
    clear(userBox);
    if (!user) return;
    const name = h('strong', { 'data-user': true }, user);
    userBox.append(
      h('span', { class: 'muted' }, 'Signed in as '),
      name,
      h('button', { type: 'button', class: 'btn btn-small', id: 'signout', onclick: signOut }, 'Sign out'),
    );
    session.signInToken().then(
      (token) => {
        const id = identityOf(token);
        if (mine !== shownFor || !id || id.anonymous) return;
        menu = identityMenu(user, id);
        name.replaceWith(menu.element);
      },
      () => {}, // the views report failing credentials; the name stays plain
    );
  };

  function signOut() {
    if (session) session.signOut();
    render({ notice: { text: 'You are signed out.', type: 'ok' } });
  }

  // flash shows a message above the page until the next navigation.
  function flash(text, type) {
    flashBox.replaceChildren(h('div', { class: `flash flash-${type}`, role: type === 'error' ? 'alert' : 'status' }, text));
  }

  /** navigate moves to path; notice ({text, type}) is shown on the new page. */
  function navigate(path, { replace = false, notice = null } = {}) {
    if (path !== location.pathname + location.search) {
      if (replace) history.replaceState(null, '', path);
      else history.pushState(null, '', path);
    }
    render({ moved: true, notice });
    window.scrollTo(0, 0);
  }

  function render({ moved = false, message = '', notice = null } = {}) {
    if (controller) controller.abort();
    controller = new AbortController();
    flashBox.replaceChildren();
    if (notice) flash(notice.text, notice.type);
    clear(main);
    showUser();
    const route = parseRoute(location.pathname, location.search);
    const ctx = {
      config,
      registry,
      session,
      main,
      signal: controller.signal,
      navigate,
      flash,
      rerender: () => render(),
      signOut,
      signedIn: () => render({ moved: true }),
      setTitle: (t) => {
        document.title = `${t} · ${config.title}`;
      },
      // handleAuth takes over when credentials stopped working: back to the sign-in form.
      handleAuth: (err) => {
        if (!session || !err) return false;
        if (err.kind === 'credentials') {
          session.signOut();
          render({ message: 'Your user name or password is no longer accepted. Sign in again.' });
          return true;
        }
        return false;
      },
    };
    if (session && !session.signedIn) {
      signinView(ctx, { message });
      return;
    }
    VIEWS[route.view](ctx, route);
    if (moved) {
      const h1 = main.querySelector('h1');
      if (h1) h1.focus({ preventScroll: true });
    }
  }

  document.addEventListener('click', (e) => {
    const a = e.target.closest('a[data-nav]');
    if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(a.getAttribute('href'));
  });
  window.addEventListener('popstate', () => render({ moved: true }));
  focusFilterOnFind(main);
  render();
}

loadConfig().then(start, (err) => {
  const main = document.getElementById('main');
  clear(main).append(problem({ config: {}, rerender: () => location.reload() }, err, 'the UI settings'));
});
