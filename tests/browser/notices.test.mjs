// The notices a person relies on: tiers and timeout with "try again",
// refused content, the length counter, leaving, reporting and a ban.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  URL, hasText, launch, match, online, phase, register, say, shot, uniqueTag, visitor,
} from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('the wait moves to tier 2, times out, and "Try again" queues again', async () => {
  const page = await visitor(browser);
  await register(page, { nickname: 'Hal', mood: 'shy', interests: [uniqueTag('alone')] });
  await page.click('#find');
  await page.waitForSelector('#wait-tier[data-tier="1"]');
  await page.waitForSelector('#wait-tier[data-tier="2"]');
  await hasText(page, '#wait-tier', 'at least one interest');
  await hasText(page, '#notice-text', 'No stranger turned up');
  await phase(page, 'lobby');
  await shot(page, 'timeout');
  await page.click('#notice-action');
  await phase(page, 'waiting');
  await page.click('#cancel-wait');
  await online(page, 'lobby');
});

test('refused content, the counter, leaving and reporting are shown clearly', async () => {
  const tag = uniqueTag('notices');
  const ivy = await visitor(browser);
  const jo = await visitor(browser);
  await register(ivy, { nickname: 'Ivy', mood: 'silly', interests: [tag] });
  await register(jo, { nickname: 'Jo', mood: 'silly', interests: [tag] });
  await match(ivy, jo);

  await say(ivy, 'this has a badword in it');
  await ivy.waitForSelector('#log .mine[data-status="failed"]');
  await hasText(ivy, '#log .mine .msg-status', 'blocked word');
  await hasText(ivy, '#notice-text', 'blocked word');

  const max = await ivy.evaluate(() => JSON.parse(document.querySelector('meta[name="duet-config"]').content).maxMessageChars);
  assert.equal(await ivy.isVisible('#counter'), false);
  await ivy.fill('#text', 'x'.repeat(max - 20));
  await hasText(ivy, '#counter', '20');
  await ivy.fill('#text', 'x'.repeat(max + 1));
  await ivy.waitForSelector('#counter[data-over="true"]');
  await ivy.press('#text', 'Enter');
  await hasText(ivy, '#notice-text', 'too long');
  await ivy.fill('#text', '');

  await say(jo, 'still here?');
  await hasText(ivy, '#log .theirs', 'still here?');
  assert.equal((await jo.$$('#log .theirs')).length, 0, 'the refused message never reached Jo');

  // Report: Jo's room ends with the report sent; Ivy sees Jo left.
  await jo.click('#report-open');
  await jo.waitForSelector('#report-dialog[open]');
  await jo.selectOption('#report-reason', 'spam');
  await jo.fill('#report-details', 'test report');
  await shot(jo, 'report-dialog');
  await jo.click('#report-send');
  await online(jo, 'lobby');
  await hasText(jo, '#notice-text', 'report was sent');
  await hasText(ivy, '#ended-text', 'Jo left the chat');

  // Leave: a new pair; the leaver is back in the lobby, the other is told.
  const tag2 = uniqueTag('leave');
  const kim = await visitor(browser);
  const lou = await visitor(browser);
  await register(kim, { nickname: 'Kim', interests: [tag2] });
  await register(lou, { nickname: 'Lou', interests: [tag2] });
  await match(kim, lou);
  await kim.click('#leave');
  await online(kim, 'lobby');
  await hasText(lou, '#ended-text', 'Kim left the chat');
  await lou.click('#again');
  await phase(lou, 'waiting');
});

test('a ban ends the session with a notice, and a banned return shows until when', async () => {
  const admin = process.env.DUET_ADMIN_TOKEN;
  assert.ok(admin, 'tests/browser.rs sets DUET_ADMIN_TOKEN');
  const page = await visitor(browser);
  await register(page, { nickname: 'Max' });
  const { userId } = await page.evaluate(() => JSON.parse(localStorage.getItem('duet.identity')));
  const res = await fetch(`${URL}/api/admin/bans`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${admin}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ userId, minutes: 60, reason: 'browser test' }),
  });
  assert.equal(res.status, 200);
  await phase(page, 'blocked');
  await hasText(page, '#blocked-title', 'You are banned');
  assert.equal(await page.getAttribute('body', 'data-conn'), 'stopped');
  await page.reload();
  await phase(page, 'blocked');
  await hasText(page, '#blocked-text', 'until');
  await shot(page, 'banned');
});
