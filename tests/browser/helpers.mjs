// Shared pieces of the browser tests: launching Debian's Chromium, a
// visitor that goes through the page's own forms, DOM waits, screenshots,
// a TCP proxy that can cut a page's connections for real, and the duet
// binary as a child process (for a restart).
//
// Run by tests/browser.rs, which starts duet and sets DUET_URL. Every wait
// is bounded (WAIT_MS); nothing sleeps for a fixed time.

import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

export const URL = process.env.DUET_URL || 'http://127.0.0.1:8080';
export const WAIT_MS = 15_000;
const HERE = path.dirname(fileURLToPath(import.meta.url));
const SHOTS = process.env.DUET_SCREENSHOTS || path.join(HERE, '..', '..', 'target', 'browser');

export const DESKTOP = { width: 1000, height: 720 };
export const PHONE = { width: 390, height: 780 };

/// Chromium; `args` are added to its command line.
export async function launch(args = []) {
  return chromium.launch({
    executablePath: process.env.DUET_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    // No network but loopback here: keep Chromium from calling home.
    args: ['--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run', ...args],
  });
}

/// A tag no other test uses, so tier-1 matching (equal interest sets) pairs
/// only the pages of one test even when a stranger is waiting.
export function uniqueTag(name) {
  return `${name}-${Math.random().toString(36).slice(2, 8)}`;
}

/// A fresh visitor (own context, so own localStorage) on `baseUrl`.
export async function visitor(browser, { viewport = DESKTOP, baseUrl = URL } = {}) {
  const context = await browser.newContext({ viewport, colorScheme: 'light' });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  page.baseUrl = baseUrl;
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  return page;
}

/// Fills the first-visit form and waits until the page is online in the lobby
/// (`beforeSave(page)` runs on the filled form).
export async function register(page, { nickname, mood, avatar, interests = [], beforeSave }) {
  await page.goto(`${page.baseUrl}/`);
  await page.locator('#view-profile').waitFor();
  if (nickname) await page.fill('#nickname', nickname);
  if (mood) await page.check(`input[name="mood"][value="${mood}"]`);
  if (avatar) await page.check(`input[name="avatar"][value="${avatar}"]`);
  for (const tag of interests) {
    await page.fill('#interest-input', tag);
    await page.press('#interest-input', 'Enter');
  }
  if (beforeSave) await beforeSave(page);
  await page.click('#profile-save');
  await online(page, 'lobby');
}

export async function online(page, phase) {
  await page.waitForSelector(`body[data-phase="${phase}"][data-conn="online"]`);
}

export async function phase(page, name) {
  await page.waitForSelector(`body[data-phase="${name}"]`);
}

/// Waits until the element's text contains `text`.
export async function hasText(page, selector, text) {
  await page.waitForFunction(
    ([sel, want]) => [...document.querySelectorAll(sel)].some((n) => !n.hidden && n.textContent.includes(want)),
    [selector, text],
    { timeout: WAIT_MS },
  );
}

/// Both pages press "Find a stranger"; returns when both are in the room.
export async function match(a, b) {
  await a.click('#find');
  await phase(a, 'waiting');
  await b.click('#find');
  await Promise.all([phase(a, 'room'), phase(b, 'room')]);
}

/// Types like a person (input events, so TYPING is sent), then Enter.
export async function say(page, text) {
  await page.locator('#text').pressSequentially(text);
  await page.press('#text', 'Enter');
}

/// The conversation as [{side, text, seq, status}], in display order.
export async function transcript(page) {
  return page.$$eval('#log .msg:not(.system)', (items) => items.map((li) => ({
    side: li.classList.contains('mine') ? 'mine' : 'theirs',
    text: li.querySelector('.msg-text').textContent,
    seq: li.dataset.seq ? Number(li.dataset.seq) : null,
    status: li.dataset.status,
  })));
}

export async function shot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
}

/// A TCP proxy in front of duet. `drop()` resets every connection through
/// it and refuses new ones until `restore()`: to the page this is a network
/// failure (close 1006), to the server an ended socket, so the real resume
/// path runs on both sides.
export async function proxy(target) {
  const { hostname, port } = new globalThis.URL(target);
  const live = new Set();
  let down = false;
  let refused = 0;
  const server = net.createServer((client) => {
    if (down) {
      refused += 1;
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(Number(port), hostname);
    const pair = [client, upstream];
    live.add(pair);
    const end = () => {
      live.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const s of pair) {
      s.on('error', end);
      s.on('close', end);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    get refused() { return refused; },
    drop() {
      down = true;
      for (const [client, upstream] of live) {
        client.resetAndDestroy();
        upstream.destroy();
      }
      live.clear();
    },
    restore() { down = false; },
    close() {
      this.drop();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

/// Polls `cond` (no DOM) until true, at most WAIT_MS.
export async function until(cond, what) {
  const deadline = Date.now() + WAIT_MS;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/// Waits until `url` answers 200 (a server just started), at most WAIT_MS.
export async function healthy(url) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    try {
      const res = await fetch(`${url}/api/health`);
      if (res.status === 200) return;
    } catch (_) {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not become healthy`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// Every duet this process started and has not seen exit: killed when node
// exits for any reason (a failed or timed-out test, an uncaught error).
const children = new Set();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/// Starts the duet binary (`bin`, `args`) as a child of this process and
/// waits until `url` is healthy. Returns {child, exited, stop, log}:
/// `exited` resolves to the exit code (or the signal's name), `stop()`
/// sends SIGTERM and waits for the exit (SIGKILL if it takes > WAIT_MS),
/// `log()` is the end of its stderr, for a failure message.
export async function spawnDuet(bin, args, url) {
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, RUST_LOG: 'info' } });
  children.add(child);
  let tail = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => { tail = (tail + d).slice(-4000); });
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      children.delete(child);
      resolve(code ?? signal);
    });
  });
  const duet = {
    child,
    exited,
    log: () => tail,
    async stop() {
      if (children.has(child)) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), WAIT_MS);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
  try {
    await Promise.race([healthy(url), exited.then((c) => { throw new Error(`duet exited (${c}) at start:\n${tail}`); })]);
  } catch (e) {
    await duet.stop();
    throw e;
  }
  return duet;
}

/// `promise`, or a rejection naming `what` if it takes more than WAIT_MS.
export async function within(promise, what) {
  let timer;
  const late = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), WAIT_MS); });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}
