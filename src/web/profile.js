// The profile form: first visit, "Chat as someone new here" and "Edit
// profile" (nickname, mood, avatar, up to five interests), and saving it.
//
// Invariants: the form edits `state.form`, never `state.profile`; the
// profile changes only from the server's answer. Interests are lower-case,
// single-spaced, letters, digits, spaces or "-", at most MAX_INTERESTS and
// no repeats. A save that registers a new identity connects the socket.

import { state } from './state.js';
import { registerOrUpdate } from './api.js';
import { saveIdentity } from './identity.js';
import { connect } from './socket.js';
import { $, MOODS, el, seconds } from './util.js';
import { enterLobby, show, showBanned } from './views.js';

const AVATARS = ['🦊', '🐼', '🐧', '🐙', '🦉', '🐢', '🐸', '🐰', '🐱', '🐶', '🦄', '🐝'];
const MAX_INTERESTS = 5;

export function buildChoices() {
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

export function openProfile(editing) {
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

/// Enter or "," adds the typed interest; Backspace in an empty box drops
/// the last one.
export function interestKey(ev) {
  if (ev.key === 'Enter' || ev.key === ',') {
    ev.preventDefault();
    addInterest();
  } else if (ev.key === 'Backspace' && !ev.target.value && state.form.interests.length) {
    state.form.interests.pop();
    renderInterests();
  }
}

export async function submitProfile(ev) {
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
  const r = await registerOrUpdate(body);
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
