// A returning visitor is the same user; a stale identity is replaced; a
// second tab asks before taking over (and the first does not fight back),
// or becomes someone new so two windows can chat.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  URL, WAIT_MS, hasText, launch, match, online, phase, register, shot, uniqueTag, visitor,
} from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const identity = (page) => page.evaluate(() => JSON.parse(localStorage.getItem('duet.identity')));

test('a reload keeps the identity; editing the profile updates it with the token', async () => {
  const page = await visitor(browser);
  const posts = [];
  page.on('request', (r) => {
    if (r.url().endsWith('/api/users/registerOrUpdate')) posts.push(r.headers().authorization || null);
  });
  await register(page, { interests: ['tea'] });
  const first = await identity(page);
  const generated = await page.textContent('#lobby-name');
  assert.ok(generated.length > 0, 'a nickname was generated');
  assert.deepEqual(posts, [null], 'registered once, without a token');

  const me = page.waitForRequest((r) => r.url().endsWith('/api/users/me'));
  await page.reload();
  await me;
  await online(page, 'lobby');
  assert.deepEqual(await identity(page), first);
  assert.equal(await page.textContent('#lobby-name'), generated);
  assert.equal(posts.length, 1, 'no new registration on return');

  await page.click('#edit-profile');
  await phase(page, 'profile');
  assert.equal(await page.inputValue('#nickname'), generated);
  await page.fill('#nickname', 'Eli');
  await page.click('#profile-save');
  await online(page, 'lobby');
  assert.equal(await page.textContent('#lobby-name'), 'Eli');
  assert.deepEqual(posts, [null, `Bearer ${first.authToken}`]);
  assert.deepEqual(await identity(page), first, 'an update keeps the same identity');
});

test('an unknown saved token is forgotten and the visitor starts afresh', async () => {
  const page = await visitor(browser);
  await page.goto(`${URL}/`);
  await page.evaluate(() => localStorage.setItem('duet.identity', JSON.stringify({ userId: 'x', authToken: 'f'.repeat(64) })));
  await page.reload();
  await phase(page, 'profile');
  await hasText(page, '#notice-text', 'no longer valid');
  assert.equal(await page.evaluate(() => localStorage.getItem('duet.identity')), null);
  await register(page, { nickname: 'Fay' });
  assert.notEqual((await identity(page)).authToken, 'f'.repeat(64));
});

test('a second tab asks first; taking over stops the first tab, which does not reconnect by itself', async () => {
  const first = await visitor(browser);
  await register(first, { nickname: 'Gus' });
  const second = await first.context().newPage();
  second.setDefaultTimeout(WAIT_MS);
  await second.goto(`${URL}/`);
  await phase(second, 'blocked');
  await hasText(second, '#blocked-title', 'already open in another tab');
  await online(first, 'lobby'); // asking took nothing from the first tab

  await second.click('#blocked-actions button:text("Use it here")');
  await online(second, 'lobby');
  await phase(first, 'blocked');
  await hasText(first, '#blocked-title', 'open somewhere else');
  assert.equal(await first.getAttribute('body', 'data-conn'), 'stopped');
  await shot(first, 'superseded');

  await first.click('#blocked-actions button:text("Use duet here")');
  await online(first, 'lobby');
  await phase(second, 'blocked');
  assert.equal(await second.getAttribute('body', 'data-conn'), 'stopped');
});

test('two windows of one browser can chat with each other: the second is someone new', async () => {
  const tag = uniqueTag('windows');
  const first = await visitor(browser);
  await register(first, { nickname: 'Ira', interests: [tag] });
  const browserWide = await identity(first);
  const second = await first.context().newPage();
  second.setDefaultTimeout(WAIT_MS);
  await second.goto(`${URL}/`);
  await phase(second, 'blocked');
  await second.click('#blocked-actions button:text("Chat as someone new here")');
  await phase(second, 'profile');
  await second.fill('#nickname', 'Jun');
  await second.fill('#interest-input', tag);
  await second.press('#interest-input', 'Enter');
  await second.click('#profile-save');
  await online(second, 'lobby');

  const own = await second.evaluate(() => JSON.parse(sessionStorage.getItem('duet.tabIdentity')));
  assert.notEqual(own.userId, browserWide.userId);
  assert.deepEqual(await identity(second), browserWide, 'the browser-wide identity is untouched');
  await match(first, second);
  assert.equal(await first.textContent('#partner-name'), 'Jun');
  assert.equal(await second.textContent('#partner-name'), 'Ira');

  // A reload of that tab keeps its own identity and resumes the chat.
  await second.reload();
  await online(second, 'room');
  assert.equal(await second.textContent('#partner-name'), 'Ira');
  assert.equal(await second.textContent('#me-name'), 'Jun');
});
