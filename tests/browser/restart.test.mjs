// Server restarting: the real binary with PostgreSQL (tests/browser.rs
// gives its path, arguments and port in DUET_RESTART_*), started here,
// stopped with SIGTERM and started again on the same port. A page in the
// lobby and one that is searching see "the server is restarting", the
// server exits 0, and both pages come back by themselves as the same users.
//
// This file starts those processes, so it stops them on every way out:
// the test's `finally`, the `after` hook, and helpers.mjs kills any left
// when node exits.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  hasText, launch, online, phase, register, shot, spawnDuet, uniqueTag, until, visitor, within,
} from './helpers.mjs';

const BIN = process.env.DUET_RESTART_BIN;
const ARGS = JSON.parse(process.env.DUET_RESTART_ARGS || '[]');
const PORT = process.env.DUET_RESTART_PORT;
const URL = `http://127.0.0.1:${PORT}`;

let browser;
const running = new Set();
before(async () => { browser = await launch(); });
after(async () => {
  for (const duet of running) await duet.stop();
  await browser?.close();
});

async function start() {
  const duet = await spawnDuet(BIN, ARGS, URL);
  running.add(duet);
  duet.exited.then(() => running.delete(duet));
  return duet;
}

async function identity(page) {
  return page.evaluate(() => JSON.parse(localStorage.getItem('duet.identity')));
}

/// The WebSockets a page opens, and how many of them have closed.
function sockets(page) {
  const seen = { opened: 0, closed: 0 };
  page.on('websocket', (ws) => {
    seen.opened += 1;
    ws.on('close', () => { seen.closed += 1; });
  });
  return seen;
}

test('on SIGTERM the pages say the server is restarting, and come back as the same users when it is up again',
  { skip: !BIN && 'no database for the restart test (tests/browser.rs said why)', timeout: 120_000 }, async () => {
    let duet = await start();
    try {
      const eve = await visitor(browser, { baseUrl: URL });
      const fay = await visitor(browser, { baseUrl: URL });
      const eveSockets = sockets(eve);
      await register(eve, { nickname: 'Eve', mood: 'chill' });
      await register(fay, { nickname: 'Fay', interests: [uniqueTag('restart')] });
      await fay.click('#find');
      await phase(fay, 'waiting');
      const eveId = await identity(eve);
      const fayId = await identity(fay);

      duet.child.kill('SIGTERM');
      for (const page of [eve, fay]) {
        await page.waitForSelector('body[data-conn="reconnecting"]');
        await hasText(page, '#notice-text', 'The server is restarting');
      }
      // Fay's search was cancelled (MATCH_CANCELLED shutdown): she is in the lobby.
      await phase(fay, 'lobby');
      const code = await within(duet.exited, 'duet exiting after SIGTERM');
      assert.equal(code, 0, `duet exits 0 on SIGTERM:\n${duet.log()}`);

      // A reconnect while it is down fails; the page still says why it is waiting.
      const before = eveSockets.opened;
      await until(() => eveSockets.opened > before && eveSockets.closed >= eveSockets.opened, 'a failed reconnect');
      await hasText(eve, '#notice-text', 'The server is restarting');
      assert.equal(await eve.getAttribute('body', 'data-conn'), 'reconnecting');
      await shot(eve, 'server-restarting');

      duet = await start();
      for (const [page, id, nickname] of [[eve, eveId, 'Eve'], [fay, fayId, 'Fay']]) {
        await online(page, 'lobby'); // by itself: nobody clicks "Reconnect now"
        await hasText(page, '#me-name', nickname);
        assert.deepEqual(await identity(page), id, 'the stored identity is kept');
        const res = await fetch(`${URL}/api/users/me`, { headers: { Authorization: `Bearer ${id.authToken}` } });
        assert.equal(res.status, 200);
        const { profile } = await res.json();
        assert.equal(profile.userId, id.userId);
        assert.equal(profile.nickname, nickname);
      }
      assert.equal(await eve.isVisible('#notice-text'), false, 'the restarting notice is gone once online');

      assert.equal(await duet.stop(), 0, `duet exits 0 on SIGTERM:\n${duet.log()}`);
    } finally {
      for (const d of running) await d.stop();
    }
  });
