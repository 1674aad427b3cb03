// Rate limited: on a server with a tight CHAT limit (tests/browser.rs
// starts it with --chat-rate 1 --chat-burst 2 and sets DUET_LIMITED_URL),
// a page that sends too fast is told to slow down and for how long, the
// refused message is marked as not sent, and after that wait it can send
// again.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  hasText, launch, match, register, shot, transcript, uniqueTag, until, visitor,
} from './helpers.mjs';

const LIMITED = process.env.DUET_LIMITED_URL;

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

/// Sends `text` at once (no typing, so nothing but the CHAT goes out).
async function send(page, text) {
  await page.fill('#text', text);
  await page.press('#text', 'Enter');
}

test('sending too fast shows "slow down" with a time, marks the refused message, and works again after it',
  { skip: !LIMITED && 'DUET_LIMITED_URL is not set (tests/browser.rs sets it)' }, async () => {
    const tag = uniqueTag('rate');
    const ada = await visitor(browser, { baseUrl: LIMITED });
    const bo = await visitor(browser, { baseUrl: LIMITED });
    await register(ada, { nickname: 'Ada', interests: [tag] });
    await register(bo, { nickname: 'Bo', interests: [tag] });
    await match(ada, bo);

    // Four at once against a burst of two (the bucket refills one a second).
    for (const text of ['one', 'two', 'three', 'four']) await send(ada, text);
    await ada.waitForFunction(() => document.querySelectorAll('#log .mine[data-status="pending"]').length === 0);
    const mine = await transcript(ada);
    assert.deepEqual(mine.slice(0, 3).map((m) => [m.text, m.status]), [['one', 'sent'], ['two', 'sent'], ['three', 'failed']]);
    const refused = mine.filter((m) => m.status === 'failed');
    const labels = await ada.$$eval('#log .mine[data-status="failed"] .msg-status', (s) => s.map((n) => n.textContent));
    assert.deepEqual(labels, refused.map(() => 'not sent: too fast'));

    await hasText(ada, '#notice-text', 'Slow down');
    const notice = await ada.textContent('#notice-text');
    const wait = /try again in (\d+) seconds?/.exec(notice);
    assert.ok(wait, `the notice says how long to wait: ${notice}`);
    const seen = Date.now();
    assert.equal(await ada.getAttribute('#notice', 'data-kind'), 'warn');
    await shot(ada, 'rate-limited');

    // Bo got the two that were taken and nothing else.
    await hasText(bo, '#log .theirs', 'two');
    assert.deepEqual((await transcript(bo)).map((m) => m.text), ['one', 'two']);

    // The page said how long; once that has passed (counted from when it
    // said so, so never early) a message goes through.
    await until(() => Date.now() >= seen + Number(wait[1]) * 1000, 'the wait the notice gave');
    await send(ada, 'five');
    await ada.waitForSelector('#log .mine[data-status="sent"]:has-text("five")');
    await hasText(bo, '#log .theirs', 'five');
    assert.deepEqual((await transcript(bo)).map((m) => m.text), ['one', 'two', 'five']);
  });
