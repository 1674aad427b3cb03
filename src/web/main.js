// duet web client: one page, one WebSocket, no dependencies. This module
// wires the others: it binds the page's controls to them and boots.
//
// Shape: `state` (state.js) holds everything; server messages go through
// one dispatcher (handlers.js); views are <section>s shown one at a time by
// `show()` (views.js). User text is only ever set with textContent.
// Design notes (reconnect, backoff, de-duplication): docs/web-client.md.
//
// Invariants: the only module with top-level effects (the others just
// define); boot waits for this tab's Web Lock on a saved identity before
// anything connects.

import { state } from './state.js';
import { composerKey, onTypingInput, sendChat } from './composer.js';
import { claimIdentity, loadIdentity, offerOtherTab, start } from './identity.js';
import { clearNotice } from './notice.js';
import { buildChoices, interestKey, openProfile, submitProfile } from './profile.js';
import { joinQueue } from './queue.js';
import { leave, next, openReport, sendReport } from './room.js';
import { reconnectIfWaiting, send } from './socket.js';
import { $ } from './util.js';
import { enterLobby, setConn } from './views.js';

function bind() {
  $('profile-form').addEventListener('submit', submitProfile);
  $('interest-input').addEventListener('keydown', interestKey);
  $('profile-cancel').addEventListener('click', enterLobby);
  $('me').addEventListener('click', () => { if (state.phase === 'lobby') openProfile(true); });
  $('edit-profile').addEventListener('click', () => openProfile(true));
  $('find').addEventListener('click', joinQueue);
  $('cancel-wait').addEventListener('click', () => send('LEAVE_QUEUE', {}));
  $('composer').addEventListener('submit', sendChat);
  $('text').addEventListener('keydown', composerKey);
  $('text').addEventListener('input', onTypingInput);
  $('next').addEventListener('click', next);
  $('leave').addEventListener('click', leave);
  $('again').addEventListener('click', joinQueue);
  $('to-lobby').addEventListener('click', enterLobby);
  $('report-open').addEventListener('click', openReport);
  $('report-form').addEventListener('submit', sendReport);
  $('report-cancel').addEventListener('click', () => $('report-dialog').close());
  $('notice-close').addEventListener('click', clearNotice);
  window.addEventListener('online', reconnectIfWaiting);
}

async function boot() {
  buildChoices();
  bind();
  setConn('offline', 'offline');
  state.identity = loadIdentity();
  if (!state.identity) return openProfile(false);
  if (!(await claimIdentity(state.identity.userId))) return offerOtherTab();
  return start();
}

boot();
