// The server's messages: one table from `type` to handler, and the
// handlers for the session as a whole (AUTH_OK, AUTH_ERROR, SESSION_ENDED,
// ERROR). Queue and room messages go to queue.js, room.js and log.js.
//
// Invariants: a reply's request (`state.requests[id]`) is taken out before
// its handler runs and is passed to it; unknown types are ignored. AUTH_OK
// decides what a (re)connect resumes: the room it names, else an open chat
// ends "while you were away" and a wait joins the queue again.

import { liveRoom, state } from './state.js';
import { setPartnerTyping, tooLong } from './composer.js';
import { forgetIdentity, showSuperseded, startAfresh } from './identity.js';
import { markMessage, onChat, onChatAck } from './log.js';
import { clearNotice, notify } from './notice.js';
import { openProfile } from './profile.js';
import { joinQueue, onMatchCancelled, onQueueWaiting } from './queue.js';
import {
  endRoom, inRoom, onMatchFound, onPartnerAway, onPartnerBack, onPartnerLeft, onReported, onRoomLeft, resumeRoom,
} from './room.js';
import { $, seconds } from './util.js';
import { block, enterLobby, renderProfile, setConn, showBanned } from './views.js';

const HANDLERS = {
  AUTH_OK: onAuthOk,
  AUTH_ERROR: onAuthError,
  QUEUE_WAITING: onQueueWaiting,
  QUEUE_LEFT: () => enterLobby(),
  MATCH_FOUND: onMatchFound,
  MATCH_CANCELLED: onMatchCancelled,
  CHAT: onChat,
  CHAT_ACK: onChatAck,
  TYPING: (p) => { if (inRoom(p.roomId)) setPartnerTyping(p.isTyping); },
  TYPING_ACK: () => {},
  ROOM_LEFT: onRoomLeft,
  REPORTED: onReported,
  PARTNER_AWAY: onPartnerAway,
  PARTNER_BACK: onPartnerBack,
  PARTNER_LEFT: onPartnerLeft,
  SESSION_ENDED: onSessionEnded,
  ERROR: onError,
  PONG: () => {},
};

export function dispatch(msg) {
  const req = msg.id ? state.requests.get(msg.id) : undefined;
  if (msg.id) state.requests.delete(msg.id);
  const handler = HANDLERS[msg.type];
  if (handler) handler(msg.payload || {}, req);
}

function onAuthOk(p) {
  state.authed = true;
  state.retry.attempt = 0;
  state.profile = p.profile;
  renderProfile();
  setConn('online', 'online');
  if ($('notice').dataset.kind === 'warn') clearNotice();
  // "Find a stranger" was disabled until now, so it could not take focus.
  if (state.phase === 'lobby' && document.activeElement === document.body) $('find').focus();
  if (p.room) return resumeRoom(p.room);
  if (liveRoom()) {
    endRoom('The chat ended while you were away.');
  } else if (state.phase === 'waiting') {
    joinQueue(); // a queue place is never kept across a drop
  } else if (state.phase === 'boot') {
    enterLobby();
  }
}

function onAuthError(p) {
  if (p.code === 'BANNED') return showBanned(p.until);
  startAfresh(); // the close that follows finds no identity: no reconnect
}

function onSessionEnded(p) {
  if (p.reason === 'superseded') return showSuperseded();
  if (p.reason === 'banned') return showBanned();
  if (p.reason === 'deleted') {
    forgetIdentity();
    block('deleted', 'Identity deleted', 'This anonymous identity was erased.', '🗑️',
      [{ label: 'Start over', run: () => { state.stopped = null; openProfile(false); } }]);
  }
  // shutdown and idle: the close follows and we reconnect with backoff.
}

function onError(p, req) {
  const type = req ? req.type : '';
  if (type === 'CHAT' && req.el) markMessage(req.el, 'failed', refusalText(p.code));
  if (p.code === 'RATE_LIMITED') {
    notify(`Slow down a little: try again in ${seconds(p.retryAfterMs || 1000)}.`, 'warn');
  } else if (p.code === 'CONTENT_REJECTED') {
    notify('That message was not sent: it contains a blocked word.', 'error');
  } else if (p.code === 'MESSAGE_TOO_LONG') {
    tooLong();
  } else if (p.code === 'NOT_IN_ROOM') {
    if (liveRoom()) endRoom('This chat has already ended.');
  } else if (p.code === 'NOT_IN_QUEUE' || p.code === 'ALREADY_IN_QUEUE' || p.code === 'EMPTY_MESSAGE') {
    // Races with the server's own pushes; the pushes tell the truth.
  } else {
    notify(p.message || `Something went wrong (${p.code}).`, 'error');
  }
}

function refusalText(code) {
  return {
    CONTENT_REJECTED: 'refused: blocked word',
    MESSAGE_TOO_LONG: 'refused: too long',
    RATE_LIMITED: 'not sent: too fast',
    NOT_IN_ROOM: 'not sent: chat ended',
  }[code] || 'not sent';
}
