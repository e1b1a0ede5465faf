import { h, link } from '../dom.js';

export function notFoundView(ctx, route) {
  ctx.main.append(
    h('section', { class: 'problem', role: 'alert', 'data-problem': 'notfound' }, h('h1', { tabindex: '-1' }, 'Page not found'), h('p', {}, `“${route.path}” is not a page of this registry UI.`), h('div', { class: 'actions' }, link('/', 'Back to repositories', { class: 'btn' }))),
  );
  ctx.setTitle('Not found');
}
