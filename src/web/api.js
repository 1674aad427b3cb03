// The HTTP API the page uses: GET /api/users/me and
// POST /api/users/registerOrUpdate, as JSON.
//
// Invariants: the Bearer token goes along whenever this tab has an
// identity; answers come back as {status, data, error} whatever the status
// (a 204 or non-JSON body gives data null); a network failure rejects, so
// callers can tell "unreachable" from "refused".

import { state } from './state.js';
import { forgetIdentity } from './identity.js';

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

export function fetchMe() {
  return api('GET', '/api/users/me');
}

/// Registers (no identity) or updates the profile; a 401 means the saved
/// token is gone, so the identity is forgotten and this one registers anew.
export async function registerOrUpdate(body) {
  let r = await api('POST', '/api/users/registerOrUpdate', body);
  if (r.status === 401 && state.identity) {
    forgetIdentity(); // the saved token is gone: become someone new
    r = await api('POST', '/api/users/registerOrUpdate', body);
  }
  return r;
}
