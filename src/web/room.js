// A chat with one stranger: opening it (MATCH_FOUND, or AUTH_OK naming a
// room), the partner's presence (away, back, left), how it ends, and the
// room's buttons (Next, Leave, Report).
//
// Invariants: opening a room starts an empty log with fresh seqs; a resume
// of the same room keeps log and seqs (the replayed CHATs fill the gap).
// Once `state.room.ended` is set the composer is replaced by the end bar
// and the room's messages are ignored; the actions then start over instead.

import { CONFIG, liveRoom, state } from './state.js';
import { sendTyping, setPartnerTyping } from './composer.js';
import { clearLog, systemLine } from './log.js';
import { clearNotice, notify } from './notice.js';
import { joinQueue } from './queue.js';
import { send } from './socket.js';
import { $, fillChips, moodLabel, seconds } from './util.js';
import { enterLobby, show } from './views.js';

const LEFT_TEXT = {
  left: (n) => `${n} left the chat.`,
  next: (n) => `${n} moved on to someone new.`,
  disconnected: (n) => `${n} disconnected and did not come back.`,
};

export function onMatchFound(p) {
  openRoom({ roomId: p.roomId, partner: p.partner, mood: p.mood, shared: p.sharedInterests || [] });
  const shared = state.room.shared.length ? ` You both like ${state.room.shared.join(', ')}.` : '';
  systemLine(`You are now chatting with ${p.partner.nickname}.${shared} Say hi!`);
  $('text').focus();
}

function openRoom(room) {
  state.queue = null;
  state.room = Object.assign(room, { lastSeq: 0, seqs: new Set(), ended: false });
  clearLog();
  const partner = room.partner;
  $('partner-avatar').textContent = partner.avatar;
  $('partner-name').textContent = partner.nickname;
  $('partner-meta').textContent = `${moodLabel(partner.mood)}${room.mood === 'random' ? ' · random pool' : ''}`;
  fillChips($('partner-shared'), room.shared);
  setEnded(false);
  setPartnerTyping(false);
  show('room');
}

/// AUTH_OK carried a room: ours (a drop) or one we had lost (a reload).
export function resumeRoom(r) {
  if (state.room && state.room.roomId === r.roomId) {
    state.room.ended = false;
    setEnded(false);
    show('room');
    systemLine('Reconnected.');
    return; // the replayed CHATs follow; onChat drops any already shown
  }
  const shared = r.partner.interests.filter((t) => state.profile.interests.includes(t));
  openRoom({ roomId: r.roomId, partner: r.partner, mood: r.mood, shared });
  systemLine(`Back in your chat with ${r.partner.nickname}. Earlier messages from this tab are not shown.`);
}

/// Whether `roomId` is the chat going on now.
export function inRoom(roomId) {
  return Boolean(liveRoom()) && state.room.roomId === roomId;
}

export function onPartnerAway(p) {
  if (!inRoom(p.roomId)) return;
  setPartnerTyping(false);
  const name = state.room.partner.nickname;
  systemLine(`${name}'s connection dropped. Waiting up to ${seconds(CONFIG.resumeGraceMs)} for them to come back…`);
  notify(`${name} is away: their connection dropped.`, 'info');
}

export function onPartnerBack(p) {
  if (!inRoom(p.roomId)) return;
  systemLine(`${state.room.partner.nickname} is back.`);
  clearNotice();
}

export function onPartnerLeft(p) {
  if (!inRoom(p.roomId)) return;
  endRoom((LEFT_TEXT[p.reason] || LEFT_TEXT.left)(state.room.partner.nickname));
}

export function endRoom(text) {
  state.room.ended = true;
  setPartnerTyping(false);
  sendTyping(false);
  clearNotice(); // e.g. "partner is away": the end bar says what happened
  $('ended-text').textContent = text;
  setEnded(true);
  $('again').focus();
}

function setEnded(ended) {
  $('ended').hidden = !ended;
  $('composer').hidden = ended;
  $('room-actions').hidden = ended;
}

export function onRoomLeft(p, req) {
  if (state.room && state.room.roomId === p.roomId) state.room.ended = true;
  if (req && req.type === 'LEAVE_ROOM') enterLobby();
  // NEXT: QUEUE_WAITING follows and shows the wait.
}

export function onReported() {
  if (state.room) state.room.ended = true;
  enterLobby();
  notify('Thanks. The report was sent and you will not be matched with them again.', 'info');
}

export function next() {
  if (!liveRoom()) return joinQueue();
  send('NEXT', {});
}

export function leave() {
  if (!liveRoom()) return enterLobby();
  send('LEAVE_ROOM', { roomId: state.room.roomId });
}

export function openReport() {
  $('report-reason').value = 'spam';
  $('report-details').value = '';
  $('report-dialog').showModal();
  $('report-reason').focus();
}

export function sendReport(ev) {
  ev.preventDefault();
  $('report-dialog').close();
  if (!liveRoom()) return;
  const payload = { roomId: state.room.roomId, reason: $('report-reason').value };
  const details = $('report-details').value.trim();
  if (details) payload.details = details;
  send('REPORT', payload);
}
