// The page's one state object and the settings the server rendered into it.
//
// Invariants: every module reads and writes this same `state`, and nothing
// else holds session data. `CONFIG` is read once from
// <meta name="duet-config"> (module scripts run after parsing, so it is
// there) and falls back to the server's defaults. `state.room` is the open
// chat or the last one (`ended` once it is over); `state.stopped` set means
// nothing reconnects by itself.

export const CONFIG = readConfig();

export const state = {
  identity: null, // {userId, authToken}
  profile: null,
  phase: 'boot', // boot | profile | lobby | waiting | room | blocked
  ws: null,
  authed: false,
  stopped: null, // why we must not reconnect: superseded | banned | deleted | elsewhere
  tabOnly: false, // this tab has its own identity (sessionStorage)
  retry: { attempt: 0, timer: 0, why: '' }, // why: the notice's reason for this series
  nextId: 1,
  requests: new Map(), // envelope id -> {type, el?}
  queue: null, // {since, mood, mode, interests, waiting}
  room: null, // {roomId, partner, mood, shared, lastSeq, seqs, ended}
  typing: { active: false, lastSent: 0, idle: 0, partner: 0 },
  form: { mood: 'random', avatar: null, interests: [] },
  ticker: 0,
};

/// The chat that is still going on, if any.
export function liveRoom() {
  return state.room && !state.room.ended ? state.room : null;
}

function readConfig() {
  const meta = document.querySelector('meta[name="duet-config"]');
  const defaults = { tier1Ms: 10000, matchTimeoutMs: 30000, maxMessageChars: 2000, resumeGraceMs: 15000 };
  try {
    return Object.assign(defaults, JSON.parse(meta ? meta.content : '{}'));
  } catch (_) {
    return defaults;
  }
}
