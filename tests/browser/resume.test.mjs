// A page's connection really drops (a proxy resets it and refuses new ones)
// while the partner keeps writing; it reconnects by itself and the room
// resumes with every message shown once, in order.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  URL, hasText, launch, match, proxy, register, say, shot, transcript, uniqueTag, until, visitor,
} from './helpers.mjs';

let browser;
let net;
before(async () => {
  browser = await launch();
  net = await proxy(URL);
});
after(async () => {
  await net?.close();
  await browser?.close();
});

test('a dropped page reconnects and resumes the room without losing or repeating a message', async () => {
  const tag = uniqueTag('resume');
  const cy = await visitor(browser, { baseUrl: net.url });
  const di = await visitor(browser);
  await register(cy, { nickname: 'Cy', mood: 'fire', interests: [tag] });
  await register(di, { nickname: 'Di', mood: 'fire', interests: [tag] });
  await match(cy, di);

  await say(cy, 'one');
  await hasText(di, '#log .theirs', 'one');
  await say(di, 'two');
  await hasText(cy, '#log .theirs', 'two');

  net.drop();
  await cy.waitForSelector('body[data-conn="reconnecting"]');
  await hasText(cy, '#notice-text', 'Connection lost');
  await hasText(di, '#log .system', 'connection dropped');
  for (const text of ['three', 'four', 'five']) await say(di, text);
  await di.waitForFunction(() => document.querySelectorAll('#log .mine[data-status="sent"]').length === 4);
  // At least one reconnect attempt has failed: backoff, not a lucky retry.
  await until(() => net.refused >= 1, 'a refused reconnect');
  await shot(cy, 'reconnecting');
  net.restore();

  await cy.waitForSelector('body[data-phase="room"][data-conn="online"]');
  await hasText(di, '#log .system', 'Cy is back');
  await cy.waitForFunction(() => document.querySelectorAll('#log .theirs').length === 4)
    .catch(async (e) => { console.error(JSON.stringify(await transcript(cy)), await cy.textContent('#log')); throw e; });
  await say(cy, 'six');
  await hasText(di, '#log .theirs', 'six');

  const seen = await transcript(cy);
  assert.deepEqual(seen.map((m) => [m.side, m.text]), [
    ['mine', 'one'], ['theirs', 'two'], ['theirs', 'three'], ['theirs', 'four'], ['theirs', 'five'], ['mine', 'six'],
  ]);
  assert.deepEqual(seen.map((m) => m.seq), [1, 2, 3, 4, 5, 6]);
  const partner = await transcript(di);
  assert.deepEqual(partner.map((m) => m.text), ['one', 'two', 'three', 'four', 'five', 'six']);
  await shot(cy, 'resumed');
});
