// The message box: sending CHAT (Enter sends, Shift+Enter is a new line),
// the character counter, our TYPING announcements, and the partner's
// typing indicator.
//
// Invariants: a CHAT is sent only while online in a chat that is going on
// and within CONFIG.maxMessageChars (counted in Unicode scalar values, as
// the server does); it shows at once as "sending…" and its <li> rides along
// in `state.requests` for the ack. TYPING true is re-sent at most every
// TYPING_REFRESH_MS and turns false after TYPING_IDLE_MS without a key, on
// send, or when the chat ends; the partner's indicator hides itself after
// PARTNER_TYPING_MS without news.

import { CONFIG, liveRoom, state } from './state.js';
import { markMessage, message } from './log.js';
import { notify } from './notice.js';
import { online, send } from './socket.js';
import { $, chars } from './util.js';

const TYPING_IDLE_MS = 2500; // stop "typing" after this long without a key
const TYPING_REFRESH_MS = 3000; // re-announce while still typing
const PARTNER_TYPING_MS = 6000; // hide the partner's indicator without news
const COUNTER_FROM = 0.9; // show the counter past this share of the limit

export function tooLong() {
  notify(`That message is too long (at most ${CONFIG.maxMessageChars} characters).`, 'error');
}

export function sendChat(ev) {
  if (ev) ev.preventDefault();
  const text = $('text').value.trim();
  if (!text || !liveRoom() || !online()) return;
  if (chars(text) > CONFIG.maxMessageChars) return tooLong();
  const li = message('mine', text);
  markMessage(li, 'pending', 'sending…');
  send('CHAT', { roomId: state.room.roomId, text }, { el: li });
  $('text').value = '';
  composerChanged();
  sendTyping(false);
}

export function composerKey(ev) {
  if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) sendChat(ev);
}

function composerChanged() {
  const box = $('text');
  box.style.height = 'auto';
  box.style.height = `${Math.min(box.scrollHeight, 160)}px`;
  const n = chars(box.value.trim());
  const left = CONFIG.maxMessageChars - n;
  const counter = $('counter');
  counter.hidden = n < CONFIG.maxMessageChars * COUNTER_FROM;
  counter.textContent = String(left);
  counter.dataset.over = String(left < 0);
  counter.setAttribute('aria-label', left < 0 ? `${-left} characters over the limit` : `${left} characters left`);
}

export function onTypingInput() {
  composerChanged();
  if (!liveRoom()) return;
  const t = state.typing;
  const hasText = $('text').value.trim() !== '';
  clearTimeout(t.idle);
  if (!hasText) return sendTyping(false);
  if (!t.active || Date.now() - t.lastSent > TYPING_REFRESH_MS) sendTyping(true);
  t.idle = setTimeout(() => sendTyping(false), TYPING_IDLE_MS);
}

export function sendTyping(on) {
  const t = state.typing;
  if (!on) clearTimeout(t.idle);
  if (!on && !t.active) return;
  if (!liveRoom() || !online()) {
    t.active = false;
    return;
  }
  t.active = on;
  t.lastSent = Date.now();
  send('TYPING', { roomId: state.room.roomId, isTyping: on });
}

export function setPartnerTyping(on) {
  const t = state.typing;
  clearTimeout(t.partner);
  $('typing').hidden = !on;
  if (!on || !state.room) return;
  $('typing-text').textContent = `${state.room.partner.nickname} is typing…`;
  t.partner = setTimeout(() => setPartnerTyping(false), PARTNER_TYPING_MS);
}
