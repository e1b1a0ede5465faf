// Test doubles for the fetch-driven modules: a fake registry + token
// endpoint answering like distribution v3.1.2 behind registry-stack.
// Kept outside web/test so node --test does not load it as a test file.

export function response(status, body = '', headers = {}) {
  return new Response(typeof body === 'string' ? body : JSON.stringify(body), { status, headers });
}

export class MemoryStorage {
  constructor() {
    this.map = new Map();
  }
  getItem(k) {
    return this.map.has(k) ? this.map.get(k) : null;
  }
  setItem(k, v) {
    this.map.set(k, String(v));
  }
  removeItem(k) {
    this.map.delete(k);
  }
}

/**
 * fakeFetch routes requests to handler(url, init) and records them.
 * handler returns a Response or throws (network failure).
 */
export function fakeFetch(handler) {
  const calls = [];
  const fn = async (input, init = {}) => {
    const url = new URL(input, 'http://ui.test');
    const headers = new Headers(init.headers || {});
    calls.push({ method: init.method || 'GET', path: url.pathname, query: url.searchParams, headers });
    return handler(url, { ...init, headers });
  };
  fn.calls = calls;
  return fn;
}
