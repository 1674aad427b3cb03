// The one notice banner (#notice, role="status").
//
// Invariants: at most one notice at a time, a new one replaces the old;
// its action button, when there is one, clears the notice before it runs.
// `kind` is info | warn | error (a warn notice is cleared by AUTH_OK).

import { $ } from './util.js';

/// `action` = {label, run}.
export function notify(text, kind = 'info', action = null) {
  $('notice').hidden = false;
  $('notice').dataset.kind = kind;
  $('notice-text').textContent = text;
  const btn = $('notice-action');
  btn.hidden = !action;
  btn.textContent = action ? action.label : '';
  btn.onclick = action ? () => { clearNotice(); action.run(); } : null;
}

export function clearNotice() {
  $('notice').hidden = true;
  $('notice-text').textContent = '';
}
