// The WebSocket to /ws/chat: connect, AUTH (with lastSeq to resume a room),
// sending envelopes, and reconnecting with backoff and jitter.
//
// Invariants: at most one live socket, `state.ws`; events of a replaced
// socket are ignored. Every envelope gets a fresh id (`chat-17`) remembered
// in `state.requests` until its reply; on a close the unanswered CHATs are
// marked "not confirmed" and the map is emptied. Any close reconnects, except
// when `state.stopped` is set, the identity is gone, or the close is 4409
// (superseded) or 4403 (banned). Attempt n waits a random time between half
// and all of min(10 s, 0.5 s × 2ⁿ); AUTH_OK resets n. The notice gives the
// reason of the close that started the series (1001: the server is
// restarting), not "connection lost" for each refused attempt after it.

import { state, liveRoom } from './state.js';
import { setPartnerTyping } from './composer.js';
import { dispatch } from './handlers.js';
import { showSuperseded } from './identity.js';
import { markMessage } from './log.js';
import { notify } from './notice.js';
import { seconds } from './util.js';
import { setConn, showBanned } from './views.js';

const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 10000;
// Close codes after which reconnecting by ourselves would be wrong.
const CLOSE_SUPERSEDED = 4409;
const CLOSE_BANNED = 4403;
const RESTARTING = 'The server is restarting.';

export function connect() {
  if (state.stopped || !state.identity) return;
  stopReconnect();
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${scheme}//${location.host}/ws/chat`);
  state.ws = ws;
  state.authed = false;
  setConn('connecting', 'connecting…');
  ws.onopen = () => {
    const payload = { token: state.identity.authToken };
    if (liveRoom()) payload.lastSeq = state.room.lastSeq;
    send('AUTH', payload);
  };
  ws.onmessage = (ev) => {
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch (_) {
      return;
    }
    dispatch(msg);
  };
  ws.onclose = (ev) => onClose(ws, ev.code);
}

/// Sends one envelope if the socket is open (else drops it); `extra` is
/// kept with its id for the reply's handler (e.g. the CHAT's <li>).
export function send(type, payload, extra = {}) {
  const ws = state.ws;
  if (!ws || ws.readyState !== WebSocket.OPEN) return;
  const id = `${type.toLowerCase()}-${state.nextId++}`;
  state.requests.set(id, Object.assign({ type }, extra));
  ws.send(JSON.stringify({ type, id, payload }));
}

export function online() {
  return state.authed && state.ws && state.ws.readyState === WebSocket.OPEN;
}

function onClose(ws, code) {
  if (ws !== state.ws) return; // an older socket we already replaced
  state.ws = null;
  state.authed = false;
  failPending();
  setPartnerTyping(false);
  if (state.stopped || !state.identity) return;
  if (code === CLOSE_SUPERSEDED) return showSuperseded();
  if (code === CLOSE_BANNED) return showBanned();
  // A reconnect that fails (attempt > 0: no AUTH_OK since) keeps the
  // reason of the close that started the series: a server that is
  // restarting refuses connections for a while, and that is not news.
  const kept = state.retry.attempt > 0 ? state.retry.why : '';
  scheduleReconnect(code === 1001 ? RESTARTING : kept || 'Connection lost.');
}

/// Exponential backoff with "equal jitter": half fixed, half random, so a
/// restart does not bring every client back in the same instant.
function scheduleReconnect(why) {
  const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** state.retry.attempt);
  const delay = cap / 2 + Math.random() * (cap / 2);
  state.retry.attempt += 1;
  state.retry.why = why;
  state.retry.timer = setTimeout(connect, delay);
  setConn('reconnecting', 'reconnecting…');
  notify(`${why} Reconnecting in ${seconds(delay)}…`, 'warn', { label: 'Reconnect now', run: connect });
}

export function stopReconnect() {
  clearTimeout(state.retry.timer);
  state.retry.timer = 0;
}

/// The browser is back online: try now instead of waiting out the backoff.
export function reconnectIfWaiting() {
  if (state.retry.timer) connect();
}

/// Our messages without a CHAT_ACK when the socket ended: maybe not sent.
function failPending() {
  for (const req of state.requests.values()) {
    if (req.type === 'CHAT' && req.el) markMessage(req.el, 'failed', 'not confirmed');
  }
  state.requests.clear();
}
