// Two strangers meet, chat both ways, see each other type, and one moves on.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  PHONE, hasText, launch, online, phase, register, say, shot, transcript, visitor,
} from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('two pages are matched, chat both ways, see typing, and Next ends it for the partner', async () => {
  // Only this test queues in "chill", so plain tags are safe here.
  const interests = ['jazz', 'board games', 'hiking'];
  const ana = await visitor(browser);
  const bo = await visitor(browser, { viewport: PHONE });
  const firstVisit = (page) => shot(page, 'first-visit');
  await register(ana, { nickname: 'Ana', mood: 'chill', avatar: '🦊', interests, beforeSave: firstVisit });
  await register(bo, { nickname: 'Bo', mood: 'chill', avatar: '🐧', interests: ['jazz', 'hiking', 'board games'] });
  await shot(ana, 'lobby');

  // Keyboard only: after saving the profile, focus is on "Find a stranger".
  await ana.waitForFunction(() => document.activeElement && document.activeElement.id === 'find');
  await ana.keyboard.press('Enter');
  await phase(ana, 'waiting');
  await hasText(ana, '#wait-tier', 'exactly your interests');
  assert.equal(await ana.textContent('#wait-count'), '1');
  await shot(ana, 'waiting');
  await bo.click('#find');
  await Promise.all([phase(ana, 'room'), phase(bo, 'room')]);

  // Each sees the other, with their shared interests.
  assert.equal(await ana.textContent('#partner-name'), 'Bo');
  assert.equal(await bo.textContent('#partner-name'), 'Ana');
  assert.equal(await ana.textContent('#partner-avatar'), '🐧');
  await hasText(ana, '#partner-meta', 'Chill');
  await hasText(bo, '#partner-shared .chip', 'board games');

  // Typing shows on the other side, and stops when the text is cleared.
  await ana.locator('#text').pressSequentially('hel');
  await hasText(bo, '#typing', 'Ana is typing');
  await ana.fill('#text', '');
  await ana.locator('#text').dispatchEvent('input');
  await bo.waitForSelector('#typing', { state: 'hidden' });

  await say(ana, 'hi Bo! jazz fan too?');
  await hasText(bo, '#log .theirs', 'hi Bo! jazz fan too?');
  await ana.waitForSelector('#log .mine[data-status="sent"]');

  // Shift+Enter is a newline, Enter sends.
  await bo.locator('#text').pressSequentially('Yes!');
  await bo.keyboard.press('Shift+Enter');
  await bo.locator('#text').pressSequentially('Coltrane mostly 🎷');
  await bo.keyboard.press('Enter');
  await hasText(ana, '#log .theirs', 'Coltrane mostly');
  await say(ana, 'Nice, A Love Supreme is my favourite');
  await hasText(bo, '#log .theirs', 'A Love Supreme');
  await bo.locator('#text').pressSequentially('Same! Have you heard');
  await hasText(ana, '#typing', 'Bo is typing');

  const seen = await transcript(ana);
  assert.deepEqual(seen.map((m) => [m.side, m.text, m.status]), [
    ['mine', 'hi Bo! jazz fan too?', 'sent'],
    ['theirs', 'Yes!\nColtrane mostly 🎷', 'received'],
    ['mine', 'Nice, A Love Supreme is my favourite', 'sent'],
  ]);
  assert.deepEqual(seen.map((m) => m.seq), [1, 2, 3]);
  await shot(ana, 'chat-desktop');
  await shot(bo, 'chat-phone');

  // Next: Ana is queued again, Bo is told she moved on.
  await ana.click('#next');
  await phase(ana, 'waiting');
  await hasText(bo, '#ended-text', 'Ana moved on to someone new');
  assert.equal(await bo.isVisible('#composer'), false, 'an ended chat has no composer');
  await shot(bo, 'partner-left-phone');
  await ana.click('#cancel-wait');
  await online(ana, 'lobby');
});
