// The sign-in form: credentials go to the stack's token endpoint (never
// a browser Basic popup); on success the current URL is rendered again,
// so a deep link survives the sign-in.

import { h } from '../dom.js';
import { describe } from '../lib/problem.js';

export function signinView(ctx, { message = '' } = {}) {
  const user = h('input', { id: 'username', name: 'username', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' });
  const pass = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const error = h('div', { class: 'form-error', role: 'alert', id: 'signin-error', hidden: !message }, message);
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block' }, 'Sign in');
  // method=post and no action: if scripts ever failed to load, the browser
  // would still never put the password in a URL (and the CSP's form-action 'none' blocks it).
  const form = h(
    'form',
    { class: 'signin', method: 'post', 'aria-labelledby': 'signin-title', novalidate: true },
    h('h1', { id: 'signin-title', tabindex: '-1' }, 'Sign in'),
    h('p', { class: 'muted' }, `to ${ctx.config.title}`),
    error,
    h('div', { class: 'field' }, h('label', { for: 'username' }, 'User name'), user),
    h('div', { class: 'field' }, h('label', { for: 'password' }, 'Password'), pass),
    submit,
    h('p', { class: 'muted small' }, 'Your credentials stay in this browser tab only and are forgotten when you sign out or close it.'),
  );
  const showError = (text) => {
    error.textContent = text;
    error.hidden = !text;
  };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!user.value || !pass.value) {
      showError('Enter your user name and password.');
      (user.value ? pass : user).focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = 'Signing in…';
    showError('');
    try {
      await ctx.session.signIn(user.value.trim(), pass.value);
      pass.value = '';
      ctx.signedIn();
    } catch (err) {
      const p = describe(err);
      showError(`${p.title}. ${p.message}`);
      pass.select();
      pass.focus();
    } finally {
      submit.disabled = false;
      submit.textContent = 'Sign in';
    }
  });
  ctx.main.append(h('div', { class: 'signin-wrap' }, form));
  ctx.setTitle('Sign in');
  (message ? pass : user).focus();
}
