// This tab's identity: where it is kept, the Web Lock that lets one tab of
// the browser own it, and the flows that start it, lose it or hand it
// between tabs.
//
// Invariants: `localStorage["duet.identity"]` is the browser-wide identity;
// `sessionStorage["duet.tabIdentity"]` exists only after "Chat as someone
// new here" and then wins (`state.tabOnly`). A tab holds the lock
// `duet:<userId>` until it closes; one that cannot get it within
// LOCK_WAIT_MS asks instead of superseding the other tab. A network failure
// of /me forgets nothing; only a 401 or AUTH_ERROR does.

import { liveRoom, state } from './state.js';
import { fetchMe } from './api.js';
import { notify } from './notice.js';
import { openProfile } from './profile.js';
import { connect } from './socket.js';
import { block, enterLobby, setConn, show } from './views.js';

const STORE_KEY = 'duet.identity'; // localStorage: this browser's identity
const TAB_KEY = 'duet.tabIdentity'; // sessionStorage: one tab's own identity
const LOCK_WAIT_MS = 1500; // how long a new tab waits for the identity's lock

/// Where this tab keeps its identity: the browser-wide one, or one of
/// its own (sessionStorage) after "Chat as someone new here".
function identityStore() {
  return state.tabOnly ? [sessionStorage, TAB_KEY] : [localStorage, STORE_KEY];
}

function readIdentity(store, key) {
  try {
    const v = JSON.parse(store.getItem(key) || 'null');
    return v && typeof v.authToken === 'string' ? v : null;
  } catch (_) {
    return null;
  }
}

export function loadIdentity() {
  const own = readIdentity(sessionStorage, TAB_KEY);
  state.tabOnly = Boolean(own);
  return own || readIdentity(localStorage, STORE_KEY);
}

export function saveIdentity(userId, authToken) {
  const fresh = !state.identity || state.identity.userId !== userId;
  state.identity = { userId, authToken };
  const [store, key] = identityStore();
  store.setItem(key, JSON.stringify(state.identity));
  if (fresh) claimIdentity(userId);
}

export function forgetIdentity() {
  state.identity = null;
  state.profile = null;
  const [store, key] = identityStore();
  store.removeItem(key);
}

/// Holds a Web Lock named after the identity for as long as this tab
/// lives; resolves false when another tab of this browser still holds it
/// after LOCK_WAIT_MS (the wait covers a reload, whose old page lets go
/// as it unloads), so the page can ask instead of superseding that tab.
export function claimIdentity(userId) {
  if (!navigator.locks || !window.AbortSignal || !AbortSignal.timeout) return Promise.resolve(true);
  return new Promise((resolve) => {
    const signal = AbortSignal.timeout(LOCK_WAIT_MS);
    navigator.locks.request(`duet:${userId}`, { signal }, () => {
      resolve(true);
      return new Promise(() => {}); // never settles: kept until the tab closes
    }).catch((e) => resolve(!(e && (e.name === 'TimeoutError' || e.name === 'AbortError'))));
  });
}

/// Loads the saved identity's profile and connects.
export async function start() {
  show('boot');
  let r = null;
  try {
    r = await fetchMe();
  } catch (_) {
    // Unreachable now: the socket's backoff keeps trying, and AUTH_OK
    // brings the profile.
  }
  if (r && r.status === 401) return startAfresh();
  if (r && r.status === 200) {
    state.profile = r.data.profile;
    enterLobby();
  }
  connect();
}

/// The saved token is unknown to the server: forget it, register anew.
export function startAfresh() {
  forgetIdentity();
  openProfile(false);
  notify('Your saved identity is no longer valid, so here is a fresh start.', 'warn');
}

/// What a tab can do when another holds its identity.
function tabChoices(takeOver) {
  return [{ label: takeOver, run: resumeHere }, { label: 'Chat as someone new here', run: beSomeoneNew }];
}

export function offerOtherTab() {
  block('elsewhere', 'duet is already open in another tab',
    'You can take it over here (that tab steps aside), or chat as someone new in this tab.', '🪟',
    tabChoices('Use it here'));
}

export function showSuperseded() {
  block('superseded', 'duet is open somewhere else',
    'You opened duet in another tab or window, so this one stepped aside.', '🪟',
    tabChoices('Use duet here'));
}

/// Takes the identity over from the other tab (the server supersedes it).
function resumeHere() {
  state.stopped = null;
  if (!state.profile) return start();
  show(liveRoom() ? 'room' : 'lobby');
  connect();
}

/// A second identity for this tab only (two windows can then chat with
/// each other); the browser-wide identity stays as it was.
function beSomeoneNew() {
  state.stopped = null;
  if (state.ws) state.ws.close(1000);
  state.ws = null;
  state.tabOnly = true;
  state.identity = null;
  state.profile = null;
  state.room = null;
  setConn('offline', 'offline');
  openProfile(false);
}
