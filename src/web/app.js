// duet web client: one page, one WebSocket, no dependencies.
//
// Shape: `state` holds everything; server messages go through one
// dispatcher (`HANDLERS`); views are <section>s shown one at a time by
// `show()`. User text is only ever set with textContent.
// Design notes (reconnect, backoff, de-duplication): docs/web-client.md.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);

  const CONFIG = readConfig();
  const STORE_KEY = 'duet.identity'; // localStorage: this browser's identity
  const TAB_KEY = 'duet.tabIdentity'; // sessionStorage: one tab's own identity
  const MOODS = [
    ['chill', '😌', 'Chill'], ['fire', '🔥', 'Fire'], ['silly', '🤪', 'Silly'],
    ['shy', '🙈', 'Shy'], ['random', '🎲', 'Random'],
  ];
  const AVATARS = ['🦊', '🐼', '🐧', '🐙', '🦉', '🐢', '🐸', '🐰', '🐱', '🐶', '🦄', '🐝'];
  const MAX_INTERESTS = 5;
  const LOCK_WAIT_MS = 1500; // how long a new tab waits for the identity's lock
  const BACKOFF_BASE_MS = 500;
  const BACKOFF_MAX_MS = 10000;
  const TYPING_IDLE_MS = 2500; // stop "typing" after this long without a key
  const TYPING_REFRESH_MS = 3000; // re-announce while still typing
  const PARTNER_TYPING_MS = 6000; // hide the partner's indicator without news
  const COUNTER_FROM = 0.9; // show the counter past this share of the limit

  // Close codes after which reconnecting by ourselves would be wrong.
  const CLOSE_SUPERSEDED = 4409;
  const CLOSE_BANNED = 4403;

  const state = {
    identity: null, // {userId, authToken}
    profile: null,
    phase: 'boot', // boot | profile | lobby | waiting | room | blocked
    ws: null,
    authed: false,
    stopped: null, // why we must not reconnect: superseded | banned | deleted | elsewhere
    tabOnly: false, // this tab has its own identity (sessionStorage)
    retry: { attempt: 0, timer: 0, at: 0 },
    nextId: 1,
    requests: new Map(), // envelope id -> {type, el?}
    queue: null, // {since, mood, mode, interests, waiting}
    room: null, // {roomId, partner, mood, shared, lastSeq, seqs, ended}
    typing: { active: false, lastSent: 0, idle: 0, partner: 0 },
    form: { mood: 'random', avatar: null, interests: [] },
    ticker: 0,
  };

  function readConfig() {
    const meta = document.querySelector('meta[name="duet-config"]');
    const defaults = { tier1Ms: 10000, matchTimeoutMs: 30000, maxMessageChars: 2000, resumeGraceMs: 15000 };
    try {
      return Object.assign(defaults, JSON.parse(meta ? meta.content : '{}'));
    } catch (_) {
      return defaults;
    }
  }

  // ------------------------------------------------------------ helpers

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function chars(text) {
    return [...text].length; // Unicode scalar values, as the server counts
  }

  function clock(ms) {
    const d = new Date(ms);
    return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }

  function duration(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
  }

  function seconds(ms) {
    const s = Math.max(1, Math.ceil(ms / 1000));
    return s === 1 ? '1 second' : `${s} seconds`;
  }

  function moodLabel(mood) {
    const m = MOODS.find(([id]) => id === mood);
    return m ? `${m[1]} ${m[2]}` : mood;
  }

  function fillChips(list, tags) {
    list.replaceChildren(...tags.map((t) => el('li', 'chip', t)));
  }

  // ------------------------------------------------------------ views

  function show(phase) {
    state.phase = phase;
    document.body.dataset.phase = phase;
    for (const v of document.querySelectorAll('.view')) v.hidden = v.id !== `view-${phase}`;
    $('me').hidden = !state.profile || phase === 'profile' || phase === 'blocked';
    $('me').disabled = phase !== 'lobby'; // editing is offered between chats
    if (phase !== 'waiting') stopTicker();
  }

  function setConn(kind, text) {
    document.body.dataset.conn = kind;
    $('conn').dataset.state = kind;
    $('conn-text').textContent = text;
    const live = kind === 'online';
    $('find').disabled = !live;
    $('send').disabled = !live;
    $('text').placeholder = live ? 'Say hi…' : 'Reconnecting…';
  }

  /// One notice at a time; `action` = {label, run}; `kind` info|warn|error.
  function notify(text, kind = 'info', action = null) {
    $('notice').hidden = false;
    $('notice').dataset.kind = kind;
    $('notice-text').textContent = text;
    const btn = $('notice-action');
    btn.hidden = !action;
    btn.textContent = action ? action.label : '';
    btn.onclick = action ? () => { clearNotice(); action.run(); } : null;
  }

  function clearNotice() {
    $('notice').hidden = true;
    $('notice-text').textContent = '';
  }

  function renderProfile() {
    const p = state.profile;
    if (!p) return;
    $('me-avatar').textContent = p.avatar;
    $('me-name').textContent = p.nickname;
    $('lobby-avatar').textContent = p.avatar;
    $('lobby-name').textContent = p.nickname;
    $('lobby-summary').textContent = `Mood: ${moodLabel(p.mood)}`;
    fillChips($('lobby-interests'), p.interests);
  }

  function enterLobby() {
    renderProfile();
    state.queue = null;
    show('lobby');
  }

  /// A stop screen; `actions` = [{label, run}], the first one primary.
  function block(reason, title, text, icon, actions = []) {
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

  // ------------------------------------------------------------ identity and profile form

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

  function loadIdentity() {
    const own = readIdentity(sessionStorage, TAB_KEY);
    state.tabOnly = Boolean(own);
    return own || readIdentity(localStorage, STORE_KEY);
  }

  function saveIdentity(userId, authToken) {
    const fresh = !state.identity || state.identity.userId !== userId;
    state.identity = { userId, authToken };
    const [store, key] = identityStore();
    store.setItem(key, JSON.stringify(state.identity));
    if (fresh) claimIdentity(userId);
  }

  function forgetIdentity() {
    state.identity = null;
    state.profile = null;
    const [store, key] = identityStore();
    store.removeItem(key);
  }

  /// Holds a Web Lock named after the identity for as long as this tab
  /// lives; resolves false when another tab of this browser still holds it
  /// after LOCK_WAIT_MS (the wait covers a reload, whose old page lets go
  /// as it unloads), so the page can ask instead of superseding that tab.
  function claimIdentity(userId) {
    if (!navigator.locks || !window.AbortSignal || !AbortSignal.timeout) return Promise.resolve(true);
    return new Promise((resolve) => {
      const signal = AbortSignal.timeout(LOCK_WAIT_MS);
      navigator.locks.request(`duet:${userId}`, { signal }, () => {
        resolve(true);
        return new Promise(() => {}); // never settles: kept until the tab closes
      }).catch((e) => resolve(!(e && (e.name === 'TimeoutError' || e.name === 'AbortError'))));
    });
  }

  /// What a tab can do when another holds its identity.
  function tabChoices(takeOver) {
    return [{ label: takeOver, run: resumeHere }, { label: 'Chat as someone new here', run: beSomeoneNew }];
  }

  function offerOtherTab() {
    block('elsewhere', 'duet is already open in another tab',
      'You can take it over here (that tab steps aside), or chat as someone new in this tab.', '🪟',
      tabChoices('Use it here'));
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

  async function api(method, path, body) {
    const headers = { 'Content-Type': 'application/json' };
    if (state.identity) headers.Authorization = `Bearer ${state.identity.authToken}`;
    const res = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined });
    let data = null;
    try {
      data = await res.json();
    } catch (_) { /* 204 or not JSON */ }
    return { status: res.status, data, error: data && data.error ? data.error : null };
  }

  function buildChoices() {
    $('moods').replaceChildren(...MOODS.map(([id, icon, label]) =>
      choice('mood', id, `${icon} ${label}`, () => { state.form.mood = id; })));
    $('avatars').replaceChildren(...AVATARS.map((a) =>
      choice('avatar', a, a, () => { state.form.avatar = a; }, `Avatar ${a}`)));
  }

  function choice(name, value, text, onPick, ariaLabel) {
    const label = el('label', 'choice');
    const input = el('input');
    input.type = 'radio';
    input.name = name;
    input.value = value;
    input.addEventListener('change', onPick);
    const face = el('span', 'choice-face', text);
    if (ariaLabel) input.setAttribute('aria-label', ariaLabel);
    label.append(input, face);
    return label;
  }

  function openProfile(editing) {
    const p = state.profile;
    state.form = {
      mood: p ? p.mood : 'random',
      avatar: p ? p.avatar : null,
      interests: p ? [...p.interests] : [],
    };
    $('nickname').value = p ? p.nickname : '';
    for (const r of document.querySelectorAll('input[name="mood"]')) r.checked = r.value === state.form.mood;
    for (const r of document.querySelectorAll('input[name="avatar"]')) r.checked = r.value === state.form.avatar;
    renderInterests();
    $('profile-title').textContent = editing ? 'Your profile' : 'Talk to a stranger';
    $('profile-lead').hidden = editing;
    $('profile-lead').textContent = state.tabOnly
      ? 'This tab gets an anonymous identity of its own. Pick how you show up.'
      : 'Anonymous and one-to-one. Pick how you show up; nothing else is asked.';
    $('profile-save').textContent = editing ? 'Save' : 'Start';
    $('profile-cancel').hidden = !editing;
    $('profile-error').textContent = '';
    show('profile');
    $('nickname').focus();
  }

  function renderInterests() {
    const items = state.form.interests.map((tag) => {
      const li = el('li', 'chip removable', tag);
      const x = el('button', 'chip-x', '×');
      x.type = 'button';
      x.setAttribute('aria-label', `Remove ${tag}`);
      x.addEventListener('click', () => {
        state.form.interests = state.form.interests.filter((t) => t !== tag);
        renderInterests();
        $('interest-input').focus();
      });
      li.append(x);
      return li;
    });
    $('interest-list').replaceChildren(...items);
    const full = state.form.interests.length >= MAX_INTERESTS;
    $('interest-input').disabled = full;
    $('interest-input').placeholder = full ? 'that is five' : 'type one, press Enter';
  }

  function addInterest() {
    const input = $('interest-input');
    const tag = input.value.trim().toLowerCase().replace(/\s+/g, ' ');
    if (!tag) return;
    if (!/^[\p{L}\p{N} -]{1,24}$/u.test(tag)) {
      $('profile-error').textContent = 'Interests use letters, digits, spaces or “-” (up to 24).';
      return;
    }
    $('profile-error').textContent = '';
    if (!state.form.interests.includes(tag) && state.form.interests.length < MAX_INTERESTS) {
      state.form.interests.push(tag);
    }
    input.value = '';
    renderInterests();
  }

  async function submitProfile(ev) {
    ev.preventDefault();
    addInterest();
    const body = { mood: state.form.mood, interests: state.form.interests };
    const nickname = $('nickname').value.trim();
    if (nickname) body.nickname = nickname;
    if (state.form.avatar) body.avatar = state.form.avatar;
    $('profile-save').disabled = true;
    try {
      await saveProfile(body);
    } catch (_) {
      $('profile-error').textContent = 'Could not reach duet. Check your connection and try again.';
    } finally {
      $('profile-save').disabled = false;
    }
  }

  async function saveProfile(body) {
    let r = await api('POST', '/api/users/registerOrUpdate', body);
    if (r.status === 401 && state.identity) {
      forgetIdentity(); // the saved token is gone: become someone new
      r = await api('POST', '/api/users/registerOrUpdate', body);
    }
    if (r.status === 200) {
      const isNew = !state.identity;
      saveIdentity(r.data.userId, r.data.authToken);
      state.profile = r.data.profile;
      enterLobby();
      if (isNew || !state.ws) connect();
      $('find').focus();
      return;
    }
    if (r.error && r.error.code === 'BANNED') return showBanned(r.error.until);
    if (r.error && r.error.code === 'RATE_LIMITED') {
      $('profile-error').textContent = `Too many new identities from here. Try again in ${seconds(r.error.retryAfterMs)}.`;
      return;
    }
    $('profile-error').textContent = r.error ? r.error.message : `Something went wrong (HTTP ${r.status}).`;
  }

  function showBanned(until) {
    const when = until ? ` until ${new Date(until).toLocaleString()}` : '';
    block('banned', 'You are banned', `This identity cannot chat${when}.`, '⛔');
  }

  // ------------------------------------------------------------ socket

  function connect() {
    if (state.stopped || !state.identity) return;
    stopReconnect();
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${scheme}//${location.host}/ws/chat`);
    state.ws = ws;
    state.authed = false;
    setConn('connecting', 'connecting…');
    ws.onopen = () => {
      const payload = { token: state.identity.authToken };
      if (state.room && !state.room.ended) payload.lastSeq = state.room.lastSeq;
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

  function send(type, payload, extra = {}) {
    const ws = state.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return null;
    const id = `${type.toLowerCase()}-${state.nextId++}`;
    state.requests.set(id, Object.assign({ type }, extra));
    ws.send(JSON.stringify({ type, id, payload }));
    return id;
  }

  function online() {
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
    scheduleReconnect(code === 1001 ? 'The server is restarting.' : 'Connection lost.');
  }

  /// Exponential backoff with "equal jitter": half fixed, half random, so a
  /// restart does not bring every client back in the same instant.
  function scheduleReconnect(why) {
    const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** state.retry.attempt);
    const delay = cap / 2 + Math.random() * (cap / 2);
    state.retry.attempt += 1;
    state.retry.at = Date.now() + delay;
    state.retry.timer = setTimeout(connect, delay);
    setConn('reconnecting', 'reconnecting…');
    notify(`${why} Reconnecting in ${seconds(delay)}…`, 'warn', { label: 'Reconnect now', run: connect });
  }

  function stopReconnect() {
    clearTimeout(state.retry.timer);
    state.retry.timer = 0;
  }

  /// Our messages without a CHAT_ACK when the socket ended: maybe not sent.
  function failPending() {
    for (const req of state.requests.values()) {
      if (req.type === 'CHAT' && req.el) markMessage(req.el, 'failed', 'not confirmed');
    }
    state.requests.clear();
  }

  function showSuperseded() {
    block('superseded', 'duet is open somewhere else',
      'You opened duet in another tab or window, so this one stepped aside.', '🪟',
      tabChoices('Use duet here'));
  }

  /// Takes the identity over from the other tab (the server supersedes it).
  function resumeHere() {
    state.stopped = null;
    if (!state.profile) return start();
    show(state.room && !state.room.ended ? 'room' : 'lobby');
    connect();
  }

  // ------------------------------------------------------------ dispatcher

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

  function dispatch(msg) {
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
    if (state.room && !state.room.ended) {
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

  /// The saved token is unknown to the server: forget it, register anew.
  function startAfresh() {
    forgetIdentity();
    openProfile(false);
    notify('Your saved identity is no longer valid, so here is a fresh start.', 'warn');
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
      notify(`That message is too long (at most ${CONFIG.maxMessageChars} characters).`, 'error');
    } else if (p.code === 'NOT_IN_ROOM') {
      if (state.room && !state.room.ended) endRoom('This chat has already ended.');
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

  // ------------------------------------------------------------ queue

  function joinQueue() {
    // Mood and interests are left out: the server then uses the profile's.
    const mode = $('any-mood').checked ? 'random' : 'same_mood';
    clearNotice();
    send('JOIN_QUEUE', { mode });
  }

  function onQueueWaiting(p) {
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

  function stopTicker() {
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

  function onMatchCancelled(p) {
    enterLobby();
    if (p.reason === 'timeout') {
      notify(`No stranger turned up within ${seconds(CONFIG.matchTimeoutMs)}.`, 'warn',
        { label: 'Try again', run: joinQueue });
      $('notice-action').focus();
    } else if (p.reason === 'shutdown') {
      notify('The server is restarting; your search was stopped.', 'warn');
    }
  }

  // ------------------------------------------------------------ room

  function onMatchFound(p) {
    openRoom({ roomId: p.roomId, partner: p.partner, mood: p.mood, shared: p.sharedInterests || [] });
    const shared = p.sharedInterests && p.sharedInterests.length ? ` You both like ${p.sharedInterests.join(', ')}.` : '';
    systemLine(`You are now chatting with ${p.partner.nickname}.${shared} Say hi!`);
    $('text').focus();
  }

  function openRoom(room) {
    state.queue = null;
    state.room = Object.assign(room, { lastSeq: 0, seqs: new Set(), ended: false });
    $('log').replaceChildren();
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
  function resumeRoom(r) {
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

  function inRoom(roomId) {
    return state.room && !state.room.ended && state.room.roomId === roomId;
  }

  function noteSeq(seq) {
    state.room.seqs.add(seq);
    state.room.lastSeq = Math.max(state.room.lastSeq, seq);
  }

  function onChat(p) {
    if (!state.room || state.room.roomId !== p.roomId || state.room.seqs.has(p.seq)) return;
    noteSeq(p.seq);
    setPartnerTyping(false);
    const li = message('theirs', p.text);
    markMessage(li, 'received');
    stamp(li, p.seq, p.sentAt);
  }

  function onChatAck(p, req) {
    if (!req || !req.el || !state.room || state.room.roomId !== p.roomId) return;
    noteSeq(p.seq);
    markMessage(req.el, 'sent', '✓ sent');
    stamp(req.el, p.seq, p.sentAt);
  }

  function message(side, text) {
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

  function markMessage(li, status, label = '') {
    li.dataset.status = status;
    li.querySelector('.msg-status').textContent = label;
  }

  function systemLine(text) {
    $('log').append(el('li', 'msg system', text));
    scrollLog();
  }

  function scrollLog() {
    const log = $('log');
    log.scrollTop = log.scrollHeight;
  }

  function sendChat(ev) {
    if (ev) ev.preventDefault();
    const text = $('text').value.trim();
    if (!text || !state.room || state.room.ended || !online()) return;
    if (chars(text) > CONFIG.maxMessageChars) {
      notify(`That message is too long (at most ${CONFIG.maxMessageChars} characters).`, 'error');
      return;
    }
    const li = message('mine', text);
    markMessage(li, 'pending', 'sending…');
    send('CHAT', { roomId: state.room.roomId, text }, { el: li });
    $('text').value = '';
    composerChanged();
    sendTyping(false);
  }

  function composerKey(ev) {
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

  function onTypingInput() {
    composerChanged();
    if (!state.room || state.room.ended) return;
    const t = state.typing;
    const hasText = $('text').value.trim() !== '';
    clearTimeout(t.idle);
    if (!hasText) return sendTyping(false);
    if (!t.active || Date.now() - t.lastSent > TYPING_REFRESH_MS) sendTyping(true);
    t.idle = setTimeout(() => sendTyping(false), TYPING_IDLE_MS);
  }

  function sendTyping(on) {
    const t = state.typing;
    if (!on) clearTimeout(t.idle);
    if (!on && !t.active) return;
    if (!state.room || state.room.ended || !online()) {
      t.active = false;
      return;
    }
    t.active = on;
    t.lastSent = Date.now();
    send('TYPING', { roomId: state.room.roomId, isTyping: on });
  }

  function setPartnerTyping(on) {
    const t = state.typing;
    clearTimeout(t.partner);
    $('typing').hidden = !on;
    if (!on || !state.room) return;
    $('typing-text').textContent = `${state.room.partner.nickname} is typing…`;
    t.partner = setTimeout(() => setPartnerTyping(false), PARTNER_TYPING_MS);
  }

  function onPartnerAway(p) {
    if (!inRoom(p.roomId)) return;
    setPartnerTyping(false);
    const name = state.room.partner.nickname;
    systemLine(`${name}'s connection dropped. Waiting up to ${seconds(CONFIG.resumeGraceMs)} for them to come back…`);
    notify(`${name} is away: their connection dropped.`, 'info');
  }

  function onPartnerBack(p) {
    if (!inRoom(p.roomId)) return;
    systemLine(`${state.room.partner.nickname} is back.`);
    clearNotice();
  }

  const LEFT_TEXT = {
    left: (n) => `${n} left the chat.`,
    next: (n) => `${n} moved on to someone new.`,
    disconnected: (n) => `${n} disconnected and did not come back.`,
  };

  function onPartnerLeft(p) {
    if (!inRoom(p.roomId)) return;
    endRoom((LEFT_TEXT[p.reason] || LEFT_TEXT.left)(state.room.partner.nickname));
  }

  function endRoom(text) {
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

  function onRoomLeft(p, req) {
    if (state.room && state.room.roomId === p.roomId) state.room.ended = true;
    if (req && req.type === 'LEAVE_ROOM') enterLobby();
    // NEXT: QUEUE_WAITING follows and shows the wait.
  }

  function onReported() {
    if (state.room) state.room.ended = true;
    enterLobby();
    notify('Thanks. The report was sent and you will not be matched with them again.', 'info');
  }

  // ------------------------------------------------------------ room actions

  function next() {
    if (!state.room || state.room.ended) return joinQueue();
    send('NEXT', {});
  }

  function leave() {
    if (!state.room || state.room.ended) return enterLobby();
    send('LEAVE_ROOM', { roomId: state.room.roomId });
  }

  function openReport() {
    $('report-reason').value = 'spam';
    $('report-details').value = '';
    $('report-dialog').showModal();
    $('report-reason').focus();
  }

  function sendReport(ev) {
    ev.preventDefault();
    $('report-dialog').close();
    if (!state.room || state.room.ended) return;
    const payload = { roomId: state.room.roomId, reason: $('report-reason').value };
    const details = $('report-details').value.trim();
    if (details) payload.details = details;
    send('REPORT', payload);
  }

  // ------------------------------------------------------------ start

  function bind() {
    $('profile-form').addEventListener('submit', submitProfile);
    $('interest-input').addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' || ev.key === ',') {
        ev.preventDefault();
        addInterest();
      } else if (ev.key === 'Backspace' && !ev.target.value && state.form.interests.length) {
        state.form.interests.pop();
        renderInterests();
      }
    });
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
    window.addEventListener('online', () => { if (state.retry.timer) connect(); });
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

  /// Loads the saved identity's profile and connects.
  async function start() {
    show('boot');
    let r = null;
    try {
      r = await api('GET', '/api/users/me');
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

  boot();
})();
