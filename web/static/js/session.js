// The signed-in user and the registry tokens fetched with their
// credentials. Credentials live in sessionStorage (one browser tab, gone
// when it closes) or memory, never in localStorage, a URL or a log;
// tokens live in memory only. No DOM: fetch and storage are injected.

import { ApiError, firstError } from './lib/apierror.js';

const KEY = 'registry-stack.credentials';

/** basicAuth encodes user:password as UTF-8 for an Authorization: Basic header. */
export function basicAuth(user, password) {
  const bytes = new TextEncoder().encode(`${user}:${password}`);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return 'Basic ' + btoa(bin);
}

/** expiry returns when a token should be refreshed: a safety margin before it really expires. */
export function expiry(receivedAt, expiresIn) {
  const life = Number(expiresIn) > 0 ? Number(expiresIn) : 60; // the token spec's default
  const margin = Math.min(30, life / 4);
  return receivedAt + (life - margin) * 1000;
}

export class Session {
  #fetch;
  #storage;
  #tokenPath;
  #service;
  #now;
  #memory = null; // credentials when storage is unavailable
  #tokens = new Map(); // scope -> {token, expiresAt}
  #pending = new Map(); // scope -> Promise<string>
  #generation = 0; // bumped by sign-in and sign-out

  constructor({ fetch, storage = null, tokenPath, service = '', now = () => Date.now() }) {
    this.#fetch = fetch;
    this.#storage = storage;
    this.#tokenPath = tokenPath;
    this.#service = service;
    this.#now = now;
  }

  #load() {
    if (this.#memory) return this.#memory;
    try {
      const raw = this.#storage && this.#storage.getItem(KEY);
      return raw ? JSON.parse(raw) : null;
    } catch {
      return null;
    }
  }

  #save(creds) {
    try {
      if (this.#storage) {
        this.#storage.setItem(KEY, JSON.stringify(creds));
        return;
      }
    } catch {
      // Storage disabled (private mode): keep them in memory for this page.
    }
    this.#memory = creds;
  }

  get user() {
    const c = this.#load();
    return c ? c.user : '';
  }

  get signedIn() {
    return Boolean(this.#load());
  }

  /**
   * signIn checks the credentials by asking the token endpoint for a token
   * without scope (what `docker login` does) and keeps them on success.
   * Throws ApiError 'credentials', 'unavailable', 'network' or 'server'.
   */
  async signIn(user, password) {
    const auth = basicAuth(user, password);
    const { token, expiresIn } = await this.#request(auth, '', this.#service, user);
    this.#generation++;
    this.#tokens.clear();
    this.#pending.clear();
    this.#save({ user, auth });
    // Kept like any other token: signInToken() reads it without asking again.
    this.#tokens.set(`${this.#service} `, { token, expiresAt: expiry(this.#now(), expiresIn) });
  }

  signOut() {
    this.#generation++;
    this.#tokens.clear();
    this.#pending.clear();
    this.#memory = null;
    try {
      if (this.#storage) this.#storage.removeItem(KEY);
    } catch {
      // nothing stored
    }
  }

  /** invalidate drops a cached token the registry refused. */
  invalidate(scope) {
    this.#tokens.delete(scope);
  }

  /**
   * signInToken is the token without scope that sign-in checks the
   * credentials with: it says who the token endpoint takes the user for.
   * Cached like the others (and asked for again once expired or after a
   * reload); null when signed out.
   */
  signInToken() {
    return this.token('');
  }

  /** token returns a token for scope, cached until shortly before it expires; null when signed out. */
  async token(scope, service = this.#service) {
    const creds = this.#load();
    if (!creds) return null;
    const key = `${service} ${scope}`;
    const cached = this.#tokens.get(key);
    if (cached && cached.expiresAt > this.#now()) return cached.token;
    if (this.#pending.has(key)) return this.#pending.get(key);
    // A request started for one user must not fill the cache of the next:
    // sign-in and sign-out move to a new generation.
    const generation = this.#generation;
    const p = this.#request(creds.auth, scope, service, scope ? '' : creds.user)
      .then(({ token, expiresIn }) => {
        if (generation !== this.#generation) return null;
        this.#tokens.set(key, { token, expiresAt: expiry(this.#now(), expiresIn) });
        return token;
      })
      .finally(() => {
        if (this.#pending.get(key) === p) this.#pending.delete(key);
      });
    this.#pending.set(key, p);
    return p;
  }

  async #request(auth, scope, service, account) {
    const q = new URLSearchParams();
    if (service) q.set('service', service);
    if (scope) q.set('scope', scope);
    if (account) q.set('account', account);
    let res;
    try {
      res = await this.#fetch(`${this.#tokenPath}?${q}`, {
        headers: { Authorization: auth, 'X-Requested-With': 'XMLHttpRequest', Accept: 'application/json' },
        credentials: 'omit',
        cache: 'no-store',
      });
    } catch (err) {
      if (err && err.name === 'AbortError') throw err;
      throw new ApiError('network', 'the token endpoint could not be reached');
    }
    if (res.ok) {
      const body = await res.json().catch(() => ({}));
      const token = body.token || body.access_token;
      if (!token) throw new ApiError('server', 'the token endpoint answered without a token', { status: res.status });
      return { token, expiresIn: body.expires_in };
    }
    const { code, message } = await firstError(res);
    const opts = { status: res.status, code, retryAfter: res.headers.get('Retry-After') || '' };
    if (res.status === 401) throw new ApiError('credentials', message, opts);
    if (res.status === 503) throw new ApiError('unavailable', message, opts);
    if (res.status === 403) throw new ApiError('forbidden', message, opts);
    throw new ApiError('server', message || `token endpoint status ${res.status}`, opts);
  }
}
