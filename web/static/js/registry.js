// Client of the registry API (/v2/) with the docker token flow: the scope
// a request needs is predicted and its token fetched first; a 401 names
// the scope in its Bearer challenge, which is fetched and the request
// retried once. No DOM: fetch and the session are injected.

import { ApiError, firstError } from './lib/apierror.js';
import { bearerChallenge } from './lib/challenge.js';
import { nextLast } from './lib/link.js';
import { nextReferrersPath } from './lib/referrers.js';
import { grants } from './lib/jwt.js';
import { ACCEPT, MT } from './lib/manifest.js';
import { kindForStatus } from './lib/problem.js';
import { mergeScopes, scopeForRequest } from './lib/scope.js';

export class Registry {
  #fetch;
  #session;

  /** session is null in auth mode "none". */
  constructor({ fetch, session = null }) {
    this.#fetch = fetch;
    this.#session = session;
  }

  async #send(path, { method, accept, signal }, token) {
    const headers = {};
    if (accept) headers.Accept = accept;
    if (token) headers.Authorization = `Bearer ${token}`;
    try {
      return await this.#fetch(path, { method, headers, signal, credentials: 'omit', cache: 'no-store' });
    } catch (err) {
      if (err && (err.name === 'AbortError' || (signal && signal.aborted))) throw err;
      throw new ApiError('network', 'the registry could not be reached');
    }
  }

  /** #token is the session's (cached) token for scope; null without a session, sign-in or scope. */
  async #token(scope) {
    const s = this.#session;
    return s && s.signedIn && scope ? s.token(scope) : null;
  }

  /** request performs one API call and returns the Response, or throws ApiError. */
  async request(path, { method = 'GET', accept = '', signal } = {}) {
    const opts = { method, accept, signal };
    const s = this.#session;
    const predicted = scopeForRequest(method, path);
    let scope = predicted;
    let token = await this.#token(scope);
    let res = await this.#send(path, opts, token);
    if (res.status === 401 && s && s.signedIn) {
      const ch = bearerChallenge(res.headers.get('WWW-Authenticate'));
      if (ch) {
        const want = mergeScopes(ch.scope, predicted) || predicted;
        if (want === scope) s.invalidate(scope); // refused: fetch a fresh one
        scope = want;
        token = await s.token(scope, ch.service || undefined);
        res = await this.#send(path, opts, token);
      }
    }
    if (res.ok) return res;
    const { code, message } = await firstError(res);
    let kind = kindForStatus(res.status);
    if (method === 'DELETE' && (res.status === 405 || code === 'UNSUPPORTED')) kind = 'disabled';
    throw new ApiError(kind, message || `${method} ${path}: status ${res.status}`, { status: res.status, code });
  }

  /** catalogPage returns one page of repository names and the `last` value of the next page (null at the end). */
  async catalogPage({ n = 100, last = '', signal } = {}) {
    const q = new URLSearchParams({ n: String(n) });
    if (last) q.set('last', last);
    const res = await this.request(`/v2/_catalog?${q}`, { signal });
    const body = await res.json();
    return { repositories: body.repositories || [], next: nextLast(res.headers.get('Link')) };
  }

  async tagsPage(name, { n = 1000, last = '', signal } = {}) {
    const q = new URLSearchParams({ n: String(n) });
    if (last) q.set('last', last);
    const res = await this.request(`/v2/${name}/tags/list?${q}`, { signal });
    const body = await res.json();
    return { tags: body.tags || [], next: nextLast(res.headers.get('Link')) };
  }

  /** allTags follows the registry's pagination; onPage sees each page as it arrives. */
  async allTags(name, { n = 1000, signal, onPage } = {}) {
    const tags = [];
    let last = '';
    for (;;) {
      const page = await this.tagsPage(name, { n, last, signal });
      tags.push(...page.tags);
      if (onPage) onPage(tags.length);
      if (!page.next || page.tags.length === 0) return tags;
      last = page.next;
    }
  }

  /** manifest fetches a manifest by tag or digest: {body, raw, mediaType, digest, size}. */
  async manifest(name, ref, { signal } = {}) {
    const res = await this.request(`/v2/${name}/manifests/${ref}`, { accept: ACCEPT, signal });
    const raw = await res.text();
    let body = null;
    try {
      body = JSON.parse(raw);
    } catch {
      throw new ApiError('server', `manifest ${name}:${ref} is not JSON`);
    }
    return {
      body,
      raw,
      mediaType: res.headers.get('Content-Type') || '',
      digest: res.headers.get('Docker-Content-Digest') || (ref.includes(':') ? ref : ''),
      size: new TextEncoder().encode(raw).length,
    };
  }

  /** digestOf resolves a tag to its manifest digest with HEAD, as DELETE needs a digest. */
  async digestOf(name, ref, { signal } = {}) {
    const res = await this.request(`/v2/${name}/manifests/${ref}`, { method: 'HEAD', accept: ACCEPT, signal });
    const d = res.headers.get('Docker-Content-Digest');
    if (!d) throw new ApiError('server', `the registry sent no digest for ${name}:${ref}`);
    return d;
  }

  async blobJSON(name, digest, { signal } = {}) {
    const res = await this.request(`/v2/${name}/blobs/${digest}`, { signal });
    return res.json();
  }

  /**
   * referrers lists the descriptors of the manifests that refer to digest
   * (signatures, SBOMs, attestations), following the Link header for up
   * to maxPages pages: {manifests, more}, more telling that pages were
   * left. Registries without the referrers API answer 404: that, and any
   * other failure of the first page, yields an empty list, never an error;
   * a later page that fails ends the list there, marked more.
   */
  async referrers(name, digest, { signal, maxPages = 10 } = {}) {
    const manifests = [];
    let path = `/v2/${name}/referrers/${digest}`;
    for (let page = 0; path; page++) {
      if (page === maxPages) return { manifests, more: true };
      let res;
      let body;
      try {
        res = await this.request(path, { accept: MT.ociIndex, signal });
        body = await res.json();
      } catch (err) {
        if (err && err.name === 'AbortError') throw err;
        return { manifests, more: page > 0 };
      }
      if (body && Array.isArray(body.manifests)) manifests.push(...body.manifests);
      path = nextReferrersPath(res.headers.get('Link'), path);
    }
    return { manifests, more: false };
  }

  /**
   * deleteGrant tells whether the signed-in user may delete name's
   * manifests, as far as the UI can tell: it takes the token deleteManifest
   * would send first (same scope, same session cache, so no extra request
   * once cached) and reads what its `access` claim grants. true or false
   * when the token says; null when it cannot (auth mode none, a token that
   * is not a JWT or has no `access` claim, a failed token request): the
   * registry decides then, as it always does.
   */
  async deleteGrant(name) {
    let token;
    try {
      token = await this.#token(scopeForRequest('DELETE', `/v2/${name}/manifests/`));
    } catch {
      return null;
    }
    return token ? grants(token, 'repository', name, 'delete') : null;
  }

  async deleteManifest(name, digest) {
    await this.request(`/v2/${name}/manifests/${digest}`, { method: 'DELETE' });
  }
}
