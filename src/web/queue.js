// Looking for a stranger: JOIN_QUEUE, the waiting view (tier, time waited,
// bar towards the match timeout), and a search that ends without a match.
//
// Invariants: `state.queue` is non-null only after QUEUE_WAITING; the ticker
// runs only while the waiting view is shown (show() stops it). The tier
// shown follows the time waited against CONFIG.tier1Ms (the server's
// tier-1 window); JOIN_QUEUE sends only the mode, so the server uses
// the profile's mood and interests.

import { CONFIG, state } from './state.js';
import { clearNotice, notify } from './notice.js';
import { send } from './socket.js';
import { $, duration, moodLabel, seconds } from './util.js';
import { enterLobby, show } from './views.js';

export function joinQueue() {
  // Mood and interests are left out: the server then uses the profile's.
  const mode = $('any-mood').checked ? 'random' : 'same_mood';
  clearNotice();
  send('JOIN_QUEUE', { mode });
}

export function onQueueWaiting(p) {
  state.queue = { since: performance.now(), mood: p.mood, mode: p.mode, interests: p.interests || [], waiting: p.waiting };
  state.room = null;
  show('waiting');
  $('wait-count').textContent = String(p.waiting);
  startTicker();
  $('cancel-wait').focus();
}

function startTicker() {
  stopTicker();
  renderWait();
  state.ticker = setInterval(renderWait, 250);
}

export function stopTicker() {
  clearInterval(state.ticker);
  state.ticker = 0;
}

function renderWait() {
  const q = state.queue;
  if (!q) return;
  const elapsed = performance.now() - q.since;
  const tier1 = elapsed < CONFIG.tier1Ms;
  const where = q.mode === 'random' || q.mood === 'random' ? 'any mood' : `mood ${moodLabel(q.mood)}`;
  let who;
  if (q.interests.length === 0) {
    who = tier1 ? 'someone who also has no interests set' : 'anyone';
  } else {
    who = tier1 ? `exactly your interests: ${q.interests.join(', ')}` : 'anyone sharing at least one interest';
  }
  $('wait-tier').textContent = `${tier1 ? 'Step 1' : 'Step 2'} · ${who} (${where})`;
  $('wait-tier').dataset.tier = tier1 ? '1' : '2';
  $('wait-elapsed').textContent = duration(elapsed);
  $('wait-bar').style.width = `${Math.min(100, (100 * elapsed) / CONFIG.matchTimeoutMs)}%`;
}

export function onMatchCancelled(p) {
  enterLobby();
  if (p.reason === 'timeout') {
    notify(`No stranger turned up within ${seconds(CONFIG.matchTimeoutMs)}.`, 'warn',
      { label: 'Try again', run: joinQueue });
    $('notice-action').focus();
  } else if (p.reason === 'shutdown') {
    notify('The server is restarting; your search was stopped.', 'warn');
  }
}
