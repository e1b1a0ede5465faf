// Copying text: the async Clipboard API where the page is a secure
// context, else a hidden textarea and execCommand (plain http on a LAN).

import { announce } from './dom.js';

export async function copyText(text) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      announce('Copied to the clipboard');
      return true;
    }
  } catch {
    // fall through to the legacy way
  }
  const ta = document.createElement('textarea');
  ta.value = text;
  ta.setAttribute('readonly', '');
  ta.className = 'offscreen';
  document.body.append(ta);
  ta.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch {
    ok = false;
  }
  ta.remove();
  announce(ok ? 'Copied to the clipboard' : 'Copy failed: select the text and copy it by hand');
  return ok;
}
