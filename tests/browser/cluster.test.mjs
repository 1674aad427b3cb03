// Two nodes of one cluster behind HAProxy (deploy/haproxy/duet.cfg, TLS),
// started by tests/browser_cluster.rs: two pages land on different nodes,
// are matched and chat; the node of one of them gets SIGTERM (a rolling
// restart), and that page resumes its room on the other node within the
// grace, with its transcript, while its partner sees it go and come back.
//
// Environment (from tests/browser_cluster.rs): DUET_CLUSTER_URL (HAProxy's
// https:// address), DUET_CLUSTER_SPKI (the base64 SHA-256 of its
// certificate's public key), DUET_CLUSTER_NODES (JSON [{id, url, pid}], each
// node's own http:// address and process id), DUET_CLUSTER_GRACE_MS (the
// nodes' resume grace). Without them the test is skipped; the Rust test always
// sets them.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  WAIT_MS, hasText, launch, match, register, say, shot, transcript, uniqueTag, visitor,
} from './helpers.mjs';

const URL = process.env.DUET_CLUSTER_URL;
const NODES = JSON.parse(process.env.DUET_CLUSTER_NODES || '[]');
const GRACE_MS = Number(process.env.DUET_CLUSTER_GRACE_MS || 0);
const SPKI = process.env.DUET_CLUSTER_SPKI;

let browser;
// Chromium trusts HAProxy's certificate, and only it, by its key's hash.
before(async () => { browser = await launch([`--ignore-certificate-errors-spki-list=${SPKI}`]); });
after(async () => { await browser?.close(); });

/// Polls `probe` (async) until it returns a value other than undefined, at
/// most `ms`; returns that value, or throws with the last one seen.
async function eventually(probe, what, ms = WAIT_MS) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    last = await probe();
    if (last !== undefined) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/// `duet_online_users` of a node, read from the node itself; null when it
/// does not answer (stopped).
async function onlineUsers(node) {
  try {
    const text = await (await fetch(`${node.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('duet_online_users '));
    return Number(line.split(' ')[1]);
  } catch (_) {
    return null;
  }
}

async function onlinePerNode() {
  return Promise.all(NODES.map(onlineUsers));
}

/// Every WebSocket the page opens, in order, with the JSON frames it sent
/// and received and whether it has closed (playwright's view of the wire).
function wire(page) {
  const sockets = [];
  page.on('websocket', (ws) => {
    const s = { url: ws.url(), sent: [], received: [], closed: false };
    sockets.push(s);
    const parse = (payload) => {
      try {
        return JSON.parse(payload);
      } catch (_) {
        return { unparsed: String(payload) };
      }
    };
    ws.on('framesent', (f) => s.sent.push(parse(f.payload)));
    ws.on('framereceived', (f) => s.received.push(parse(f.payload)));
    ws.on('close', () => { s.closed = true; });
  });
  return sockets;
}

/// Frames of one socket as `TYPE {payload}` lines, for failure messages.
function frames(sockets) {
  return sockets.map((s, i) => `socket ${i} (${s.closed ? 'closed' : 'open'}):\n`
    + s.sent.map((f) => `  > ${f.type} ${JSON.stringify(f.payload)}`).join('\n') + '\n'
    + s.received.map((f) => `  < ${f.type} ${JSON.stringify(f.payload)}`).join('\n')).join('\n');
}

/// What the page itself saw, recorded in the page from its first script
/// on: the close code of each of its WebSockets, and each text its notice
/// bar showed. Observation only: the client's sockets behave as before.
async function observe(page) {
  await page.addInitScript(() => {
    window.seen = { closes: [], notices: [] };
    const Native = window.WebSocket;
    window.WebSocket = class extends Native {
      constructor(...args) {
        super(...args);
        this.addEventListener('close', (e) => window.seen.closes.push(e.code));
      }
    };
    document.addEventListener('DOMContentLoaded', () => {
      const notice = document.getElementById('notice-text');
      new MutationObserver(() => window.seen.notices.push(notice.textContent))
        .observe(notice, { childList: true, characterData: true, subtree: true });
    });
  });
}

const seen = (page) => page.evaluate(() => window.seen);

test('two pages on two nodes chat; one node is stopped (SIGTERM) and its page resumes on the other node',
  { skip: !URL && 'run by tests/browser_cluster.rs (it starts the nodes and HAProxy)', timeout: 120_000 },
  async () => {
    assert.equal(NODES.length, 2, 'two nodes');
    assert.ok(GRACE_MS > 0, 'the grace is given');
    const tag = uniqueTag('cluster');
    const ana = await visitor(browser, { baseUrl: URL });
    const bo = await visitor(browser, { baseUrl: URL });
    const anaWire = wire(ana);
    const boWire = wire(bo);
    await observe(bo);

    // Ana's socket goes to one node, Bo's (leastconn) to the other.
    await register(ana, { nickname: 'Ana', mood: 'fire', interests: [tag] });
    const afterAna = await eventually(async () => {
      const n = await onlinePerNode();
      return n[0] + n[1] === 1 ? n : undefined;
    }, 'Ana online on one node');
    const anaNode = NODES[afterAna.indexOf(1)];
    const boNode = NODES.find((n) => n !== anaNode);
    await register(bo, { nickname: 'Bo', mood: 'fire', interests: [tag] });
    const afterBo = await eventually(async () => {
      const n = await onlinePerNode();
      return n[0] + n[1] === 2 ? n : undefined;
    }, 'Bo online');
    assert.deepEqual(afterBo, [1, 1], `one page on each node (Ana on ${anaNode.id}): ${afterBo}`);
    console.log(`Ana is on node ${anaNode.id}, Bo on node ${boNode.id}`);

    await match(ana, bo);
    const found = (sockets) => sockets[0].received.find((f) => f.type === 'MATCH_FOUND');
    const room = found(anaWire)?.payload.roomId;
    assert.ok(room, `Ana got MATCH_FOUND:\n${frames(anaWire)}`);
    assert.equal(found(boWire)?.payload.roomId, room, `one room for both:\n${frames(boWire)}`);
    assert.equal(await ana.textContent('#partner-name'), 'Bo');
    assert.equal(await bo.textContent('#partner-name'), 'Ana');

    await say(ana, `Hello from node ${anaNode.id}`);
    await hasText(bo, '#log .theirs', `Hello from node ${anaNode.id}`);
    await say(bo, `Hi back from node ${boNode.id}`);
    await hasText(ana, '#log .theirs', `Hi back from node ${boNode.id}`);
    await bo.waitForSelector('#log .mine[data-status="sent"]');
    const boBefore = [['theirs', `Hello from node ${anaNode.id}`, 1], ['mine', `Hi back from node ${boNode.id}`, 2]];
    assert.deepEqual((await transcript(bo)).map((m) => [m.side, m.text, m.seq]), boBefore);

    // A rolling restart of Bo's node: SIGTERM.
    const stoppedAt = Date.now();
    process.kill(boNode.pid, 'SIGTERM');

    // Bo's socket is told why and closed 1001 (the page says the server is
    // restarting); the room is not ended: Ana hears only that Bo is away.
    await eventually(async () => (boWire[0].closed ? true : undefined), 'Bo\'s socket closed');
    const last = boWire[0].received.at(-1);
    assert.deepEqual([last?.type, last?.payload?.reason], ['SESSION_ENDED', 'shutdown'], frames(boWire));
    await hasText(ana, '#log .system', `Bo's connection dropped. Waiting up to ${GRACE_MS / 1000} seconds`);
    const away = anaWire[0].received.find((f) => f.type === 'PARTNER_AWAY');
    assert.equal(away?.payload.roomId, room, frames(anaWire));
    const awayAfter = Date.now() - stoppedAt;

    // Bo comes back by itself, through HAProxy, on Ana's node, in the same
    // room, within the grace of the SIGTERM.
    const resumed = await eventually(() => boWire.slice(1).find(
      (s) => s.received.some((f) => f.type === 'AUTH_OK'),
    ), 'Bo\'s AUTH_OK on a new socket', stoppedAt + GRACE_MS - Date.now()).catch((e) => {
      throw new Error(`${e.message}\n${frames(boWire)}`);
    });
    const resumedAfter = Date.now() - stoppedAt;
    const ok = resumed.received.find((f) => f.type === 'AUTH_OK');
    assert.equal(ok.payload.room?.roomId, room, `AUTH_OK names the same room:\n${frames(boWire)}`);
    assert.equal(ok.payload.room?.partner?.nickname, 'Ana', JSON.stringify(ok.payload));
    const auth = resumed.sent[0];
    const identity = await bo.evaluate(() => JSON.parse(localStorage.getItem('duet.identity')));
    assert.deepEqual(auth, { type: 'AUTH', id: auth.id, payload: { token: identity.authToken, lastSeq: 2 } });
    await bo.waitForSelector('body[data-phase="room"][data-conn="online"]');
    const want = NODES.map((n) => (n === anaNode ? 2 : null));
    await eventually(async () => {
      const n = await onlinePerNode();
      return n.every((v, i) => v === want[i]) ? n : undefined;
    }, `online users per node ${JSON.stringify(want)}: both pages on Ana's node, Bo's node gone`);

    const { closes, notices } = await seen(bo);
    assert.equal(closes[0], 1001, `the first close is 1001: ${closes}`);
    assert.ok(notices.some((t) => t.startsWith('The server is restarting.')), `notices: ${JSON.stringify(notices)}`);
    await hasText(ana, '#log .system', 'Bo is back.');
    assert.equal(anaWire[0].received.find((f) => f.type === 'PARTNER_BACK')?.payload.roomId, room,
      frames(anaWire));
    await hasText(bo, '#log .system', 'Reconnected.');
    assert.equal(await bo.textContent('#partner-name'), 'Ana');
    assert.deepEqual((await transcript(bo)).map((m) => [m.side, m.text, m.seq]), boBefore,
      'Bo still has the earlier messages');
    await shot(bo, 'cluster-resumed');

    // The chat goes on, both ways, now on one node.
    await say(bo, 'Still here, on the other node');
    await hasText(ana, '#log .theirs', 'Still here, on the other node');
    await say(ana, 'Welcome back, Bo');
    await hasText(bo, '#log .theirs', 'Welcome back, Bo');
    await ana.waitForFunction(() => document.querySelectorAll('#log .mine[data-status="sent"]').length === 2);
    await bo.waitForFunction(() => document.querySelectorAll('#log .mine[data-status="sent"]').length === 2);
    const expected = [
      ['Ana', `Hello from node ${anaNode.id}`, 1],
      ['Bo', `Hi back from node ${boNode.id}`, 2],
      ['Bo', 'Still here, on the other node', 3],
      ['Ana', 'Welcome back, Bo', 4],
    ];
    for (const [page, me] of [[ana, 'Ana'], [bo, 'Bo']]) {
      const got = (await transcript(page)).map((m) => [m.side, m.text, m.seq, m.status]);
      const want = expected.map(([who, text, seq]) => [
        who === me ? 'mine' : 'theirs', text, seq, who === me ? 'sent' : 'received',
      ]);
      assert.deepEqual(got, want, `${me}'s transcript`);
    }

    // Ana's side never broke: one socket, still open, the room never ended.
    assert.equal(anaWire.length, 1, `Ana kept her socket:\n${frames(anaWire)}`);
    assert.equal(anaWire[0].closed, false);
    assert.equal(anaWire[0].received.some((f) => f.type === 'PARTNER_LEFT'), false, frames(anaWire));
    assert.equal(await ana.isVisible('#ended'), false, 'Ana\'s chat did not end');
    assert.equal(await ana.isVisible('#composer'), true);
    await shot(ana, 'cluster-partner-back');
    console.log(`SIGTERM to node ${boNode.id}: Ana saw PARTNER_AWAY by ${awayAfter} ms, Bo resumed on node `
      + `${anaNode.id} ${resumedAfter} ms after it, on its reconnect attempt ${boWire.indexOf(resumed)} `
      + `(grace ${GRACE_MS} ms)`);
  });
