// Which view is on screen, the connection badge, the lobby, and the stop
// screen.
//
// Invariants: exactly one <section class="view"> is visible, the one for
// `state.phase`, mirrored in body[data-phase]; body[data-conn] mirrors the
// socket, and the buttons that need it (find, send) are enabled only when it
// is `online`. A stop screen sets `state.stopped`, so nothing reconnects
// until one of its actions clears it.

import { state } from './state.js';
import { clearNotice } from './notice.js';
import { stopReconnect } from './socket.js';
import { stopTicker } from './queue.js';
import { $, el, fillChips, moodLabel } from './util.js';

export function show(phase) {
  state.phase = phase;
  document.body.dataset.phase = phase;
  for (const v of document.querySelectorAll('.view')) v.hidden = v.id !== `view-${phase}`;
  $('me').hidden = !state.profile || phase === 'profile' || phase === 'blocked';
  $('me').disabled = phase !== 'lobby'; // editing is offered between chats
  if (phase !== 'waiting') stopTicker();
}

export function setConn(kind, text) {
  document.body.dataset.conn = kind;
  $('conn').dataset.state = kind;
  $('conn-text').textContent = text;
  const live = kind === 'online';
  $('find').disabled = !live;
  $('send').disabled = !live;
  $('text').placeholder = live ? 'Say hi…' : 'Reconnecting…';
}

export function renderProfile() {
  const p = state.profile;
  if (!p) return;
  $('me-avatar').textContent = p.avatar;
  $('me-name').textContent = p.nickname;
  $('lobby-avatar').textContent = p.avatar;
  $('lobby-name').textContent = p.nickname;
  $('lobby-summary').textContent = `Mood: ${moodLabel(p.mood)}`;
  fillChips($('lobby-interests'), p.interests);
}

export function enterLobby() {
  renderProfile();
  state.queue = null;
  show('lobby');
}

/// A stop screen; `actions` = [{label, run}], the first one primary.
export function block(reason, title, text, icon, actions = []) {
  state.stopped = reason;
  stopReconnect();
  clearNotice();
  $('blocked-icon').textContent = icon;
  $('blocked-title').textContent = title;
  $('blocked-text').textContent = text;
  $('blocked-actions').replaceChildren(...actions.map(({ label, run }, i) => {
    const btn = el('button', i === 0 ? 'primary' : '', label);
    btn.type = 'button';
    btn.addEventListener('click', run);
    return btn;
  }));
  setConn('stopped', 'disconnected');
  show('blocked');
  const first = $('blocked-actions').querySelector('button');
  if (first) first.focus();
}

export function showBanned(until) {
  const when = until ? ` until ${new Date(until).toLocaleString()}` : '';
  block('banned', 'You are banned', `This identity cannot chat${when}.`, '⛔');
}
