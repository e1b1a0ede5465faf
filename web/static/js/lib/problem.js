// What to tell the user about a failure, and what they can do about it.
// Pure: no DOM. Errors come from registry.js / session.js (ApiError).

/**
 * describe maps an error to {title, message, action} where action is
 * 'signin', 'retry', 'catalog' or 'none'. what names the thing being
 * loaded ("repository team/app").
 */
export function describe(err, what = 'this page') {
  const kind = (err && err.kind) || 'unknown';
  const detail = (err && err.message) || '';
  switch (kind) {
    case 'credentials':
      return { kind, title: 'Wrong user name or password', message: 'Check both and sign in again. The password is case-sensitive.', action: 'signin' };
    case 'unauthorized':
      return { kind, title: 'Sign-in required', message: `The registry asks for credentials to show ${what}. Sign in again; your session may have expired.`, action: 'signin' };
    case 'forbidden':
      return { kind, title: 'Access denied', message: `You are signed in but not allowed to see ${what}. Ask a registry administrator for access.`, action: 'catalog' };
    case 'notfound':
      return { kind, title: 'Not found', message: `There is no ${what}. It may have been deleted, or the address is mistyped.`, action: 'catalog' };
    case 'network':
      return { kind, title: 'Registry unreachable', message: 'The browser could not reach the registry. Check your network connection or whether the server is running, then retry.', action: 'retry' };
    case 'unavailable': {
      const wait = err && err.retryAfter ? ` Try again in ${err.retryAfter} seconds.` : ' Try again in a moment.';
      return { kind, title: 'Sign-in service unavailable', message: `The registry could not reach Keycloak to check your credentials.${wait} If it persists, tell the registry administrator that Keycloak is unreachable.`, action: 'retry' };
    }
    case 'disabled':
      return { kind, title: 'Deleting is disabled', message: 'This registry does not allow deletes (storage.delete is false).', action: 'none' };
    case 'server':
      return { kind, title: 'Registry error', message: `The registry answered with an error${detail ? `: ${detail}` : ''}. Retry; if it persists, check the server logs.`, action: 'retry' };
    default:
      return { kind: 'unknown', title: 'Something went wrong', message: detail || 'An unexpected error occurred.', action: 'retry' };
  }
}

/** kindForStatus maps an HTTP status of the registry API to an error kind. */
export function kindForStatus(status) {
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'notfound';
  if (status === 405) return 'disabled';
  if (status === 503) return 'server';
  return 'server';
}
