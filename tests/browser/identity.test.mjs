// A returning visitor is the same user; a stale identity is replaced; a
// second tab of the same visitor takes over and the first does not fight back.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { URL, WAIT_MS, hasText, launch, online, phase, register, shot, visitor } from './helpers.mjs';

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

test('a second tab takes over; the first stops and can take it back by hand', async () => {
  const first = await visitor(browser);
  await register(first, { nickname: 'Gus' });
  const second = await first.context().newPage();
  second.setDefaultTimeout(WAIT_MS);
  await second.goto(`${URL}/`);
  await online(second, 'lobby');
  await phase(first, 'blocked');
  await hasText(first, '#blocked-title', 'open somewhere else');
  assert.equal(await first.getAttribute('body', 'data-conn'), 'stopped');
  await shot(first, 'superseded');

  await first.click('#blocked-action');
  await online(first, 'lobby');
  await phase(second, 'blocked');
  assert.equal(await second.getAttribute('body', 'data-conn'), 'stopped');
});
