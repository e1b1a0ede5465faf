// ApiError is every failure the UI shows to the user; kind selects the
// message (see problem.js). Pure: no DOM.

export class ApiError extends Error {
  /**
   * @param {string} kind 'credentials' | 'unauthorized' | 'forbidden' | 'notfound' |
   *   'network' | 'unavailable' | 'disabled' | 'server'
   */
  constructor(kind, message, { status = 0, code = '', retryAfter = '' } = {}) {
    super(message || kind);
    this.name = 'ApiError';
    this.kind = kind;
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

/** firstError reads {"errors":[{code,message}]} from a registry or token endpoint answer. */
export async function firstError(res) {
  try {
    const body = await res.json();
    const e = body && Array.isArray(body.errors) && body.errors[0];
    if (e) return { code: String(e.code || ''), message: String(e.message || '') };
    if (body && body.error) return { code: '', message: String(body.error_description || body.error) };
  } catch {
    // Not JSON: the status says enough.
  }
  return { code: '', message: '' };
}

export const isAbort = (err) => err && (err.name === 'AbortError' || err.name === 'TimeoutError');
