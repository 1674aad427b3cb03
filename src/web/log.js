// The chat log (#log): messages, their status, and system lines.
//
// Invariants: each `seq` is shown at most once (`state.room.seqs`), and
// `state.room.lastSeq` is the highest seen, which a reconnect's AUTH sends
// to resume. Messages sit in `seq` order; our own unacked ("pending") ones
// stay last until CHAT_ACK gives them a seq, time and "✓ sent". Text is
// set with textContent only.

import { state } from './state.js';
import { setPartnerTyping } from './composer.js';
import { $, clock, el } from './util.js';

function noteSeq(seq) {
  state.room.seqs.add(seq);
  state.room.lastSeq = Math.max(state.room.lastSeq, seq);
}

export function onChat(p) {
  if (!state.room || state.room.roomId !== p.roomId || state.room.seqs.has(p.seq)) return;
  noteSeq(p.seq);
  setPartnerTyping(false);
  const li = message('theirs', p.text);
  markMessage(li, 'received');
  stamp(li, p.seq, p.sentAt);
}

export function onChatAck(p, req) {
  if (!req || !req.el || !state.room || state.room.roomId !== p.roomId) return;
  noteSeq(p.seq);
  markMessage(req.el, 'sent', '✓ sent');
  stamp(req.el, p.seq, p.sentAt);
}

/// Appends a message (`side` mine | theirs) with empty time and status.
export function message(side, text) {
  const li = el('li', `msg ${side}`);
  li.append(el('p', 'msg-text', text));
  const meta = el('span', 'msg-meta');
  meta.append(el('time', 'msg-time'), el('span', 'msg-status'));
  li.append(meta);
  $('log').append(li);
  scrollLog();
  return li;
}

/// Gives a message its seq and time and moves it to its place by seq.
function stamp(li, seq, sentAt) {
  li.dataset.seq = String(seq);
  const time = li.querySelector('time');
  time.dateTime = new Date(sentAt).toISOString();
  time.textContent = clock(sentAt);
  const after = [...$('log').children].find((m) => m !== li && (Number(m.dataset.seq) > seq || m.dataset.status === 'pending'));
  if (after) $('log').insertBefore(li, after);
  scrollLog();
}

export function markMessage(li, status, label = '') {
  li.dataset.status = status;
  li.querySelector('.msg-status').textContent = label;
}

export function systemLine(text) {
  $('log').append(el('li', 'msg system', text));
  scrollLog();
}

function scrollLog() {
  const log = $('log');
  log.scrollTop = log.scrollHeight;
}

export function clearLog() {
  $('log').replaceChildren();
}
