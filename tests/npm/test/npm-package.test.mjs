// The packed npm package in a browser, as a consumer uses it: the real
// peerlink-server serves this folder (page/ and node_modules/peerlink, installed
// from the .tgz) and the signaling socket; two pages of Debian's Chromium join a
// room, chat, send a fake-camera video, a screen share and a file, all through page/app.js,
// which uses only the package's public API.
//
// Runs inside scripts/netns.sh (Chromium gathers no ICE candidates on loopback
// alone). scripts/test-npm.sh builds everything first.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CONSUMER = path.resolve(HERE, '..');
const REPO = path.resolve(CONSUMER, '..', '..');

// The flags the wasm tests give Chromium (webdriver.json: no GPU, nothing that
// phones home, fake camera, microphone and screen), plus --no-sandbox for root;
// see shared/TOOLCHAIN.md.
const CHROMIUM_ARGS = [
  '--no-sandbox',
  ...JSON.parse(readFileSync(path.join(REPO, 'webdriver.json'), 'utf8'))['goog:chromeOptions'].args,
];

function serverBinary() {
  const bin =
    process.env.PEERLINK_SERVER_BIN ??
    path.join(process.env.CARGO_TARGET_DIR ?? path.join(REPO, 'target'), 'debug', 'peerlink-server');
  if (!existsSync(bin)) throw new Error(`no server binary at ${bin}: cargo build -p peerlink-server`);
  return bin;
}

/** Starts peerlink-server on a free port; resolves with the process and its origin. */
function startServer() {
  const child = spawn(serverBinary(), ['--static', CONSUMER, '--listen', '127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = [];
  child.stderr.setEncoding('utf8').on('data', (chunk) => output.push(chunk));
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output.join('')}`)), 15_000);
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      seen += chunk;
      const match = /peerlink-server listening on (http:\/\/\S+)/.exec(seen);
      if (match) {
        clearTimeout(timer);
        resolve({ child, origin: match[1].replace(/\/$/, ''), output });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}) before listening:\n${output.join('')}`));
    });
  });
}

let server;
let browser;

before(async () => {
  const pkg = path.join(CONSUMER, 'node_modules', 'peerlink', 'package.json');
  assert.ok(existsSync(pkg), 'peerlink is not installed: run scripts/test-npm.sh');
  assert.equal(JSON.parse(readFileSync(pkg, 'utf8')).name, 'peerlink');
  server = await startServer();
  browser = await chromium.launch({
    executablePath: process.env.PEERLINK_CHROMIUM ?? '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
  });
});

after(async () => {
  await browser?.close();
  if (server && server.child.exitCode === null) {
    const exited = new Promise((resolve) => server.child.once('exit', resolve));
    server.child.kill('SIGTERM');
    await exited;
  }
});

/** A fresh browser context with the consumer page; fails the test on page errors. */
async function openPage(room, name, media = 'video') {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (error) => page.problems.push(`pageerror: ${error.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') page.problems.push(`console.error: ${msg.text()} (${msg.location().url})`);
  });
  const query = new URLSearchParams({ room, name, media });
  await page.goto(`${server.origin}/page/index.html?${query}`);
  await page.locator('[data-testid="status"][data-state="joined"], [data-testid="status"][data-state="error"]').waitFor();
  assert.equal(await page.getByTestId('status').getAttribute('data-state'), 'joined', await page.getByTestId('status').textContent());
  page.peerId = await page.getByTestId('my-id').textContent();
  return page;
}

const uniqueRoom = (label) => `${label}-${randomBytes(4).toString('hex')}`;

/** `framesDecoded` of inbound video from the raw RTCPeerConnection's getStats(). */
function framesDecoded(page, peerId) {
  return page.evaluate(async (id) => {
    const pc = window.room.peerConnection(id);
    if (!pc) return -1;
    let frames = 0;
    (await pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') frames += s.framesDecoded ?? 0;
    });
    return frames;
  }, peerId);
}

test('two pages join a room, chat, and a fake-camera video flows', { timeout: 90_000 }, async () => {
  const room = uniqueRoom('call');
  const ann = await openPage(room, 'Ann');
  const bob = await openPage(room, 'Bob');

  // Each sees the other, connected (peer-joined and peer-state events).
  await ann.locator(`[data-testid="peers"] li[data-peer="${bob.peerId}"][data-state="connected"]`).waitFor();
  await bob.locator(`[data-testid="peers"] li[data-peer="${ann.peerId}"][data-state="connected"]`).waitFor();
  assert.equal(await ann.locator(`[data-testid="peers"] li[data-peer="${bob.peerId}"]`).textContent(), 'Bob');
  assert.deepEqual(
    await bob.evaluate(() => window.room.peers().map(({ name, state }) => ({ name, state }))),
    [{ name: 'Ann', state: 'connected' }],
  );

  // Chat, typed into the page (sendChat) and shown by the other's 'chat' listener.
  await bob.getByTestId('chat-input').fill('hello from Bob');
  await bob.getByTestId('chat-send').click();
  await ann.locator('[data-testid="chat-log"] li', { hasText: 'Bob: hello from Bob' }).waitFor();
  await ann.getByTestId('chat-input').fill('hi Bob');
  await ann.getByTestId('chat-send').click();
  await bob.locator('[data-testid="chat-log"] li', { hasText: 'Ann: hi Bob' }).waitFor();

  // Video: the remote <video> from the 'remote-stream' event shows real frames...
  for (const [viewer, sender] of [[ann, bob], [bob, ann]]) {
    const video = viewer.locator(`video[data-peer="${sender.peerId}"][data-kind="camera"]`);
    await video.waitFor();
    await viewer.waitForFunction(
      (id) => document.querySelector(`video[data-peer="${id}"][data-kind="camera"]`)?.videoWidth > 0,
      sender.peerId,
    );
  }
  // ...and the decoder keeps decoding: framesDecoded rises on the raw RTCPeerConnection.
  const before = await framesDecoded(ann, bob.peerId);
  assert.ok(before >= 0, 'peerConnection(peerId) gave no RTCPeerConnection');
  let now = before;
  for (const deadline = Date.now() + 20_000; now <= before + 10; ) {
    assert.ok(Date.now() < deadline, `framesDecoded stuck at ${now} (was ${before})`);
    now = await framesDecoded(ann, bob.peerId);
  }
  // The facade's own stats() summary agrees.
  const stats = await ann.evaluate((id) => window.room.stats(id), bob.peerId);
  assert.ok(stats.framesDecoded >= now, `stats().framesDecoded ${stats.framesDecoded} < ${now}`);
  assert.ok(stats.inboundVideoStreams >= 1 && stats.inboundAudioStreams >= 1, JSON.stringify(stats));
  assert.ok(stats.frameWidth > 0 && stats.videoBytesReceived > 0, JSON.stringify(stats));
  assert.equal(stats.localCandidateType, 'host');

  // Screen share: a second stream, classified as a screen on the other side;
  // stopping it removes it there and ends it here ('screen-share-ended').
  await ann.getByTestId('share-screen').click();
  await ann.locator('[data-testid="share-screen"][data-sharing="true"]').waitFor();
  await bob.waitForFunction(
    (id) => document.querySelector(`video[data-peer="${id}"][data-kind="screen"]`)?.videoWidth > 0,
    ann.peerId,
  );
  assert.equal(await bob.locator(`video[data-peer="${ann.peerId}"]`).count(), 2);
  await ann.getByTestId('share-screen').click();
  await ann.locator('[data-testid="share-screen"][data-sharing="false"]').waitFor();
  await bob.locator(`video[data-peer="${ann.peerId}"][data-kind="screen"]`).waitFor({ state: 'detached' });
  assert.equal(await bob.locator(`video[data-peer="${ann.peerId}"][data-kind="camera"]`).count(), 1);

  // Mute is announced to the peer ('peer-media' -> peerMedia()).
  assert.equal(await bob.evaluate(() => window.room.setMicEnabled(false)), true);
  await ann.waitForFunction((id) => window.room.peerMedia(id)?.mic === false, bob.peerId);
  assert.equal(await ann.evaluate((id) => window.room.peerMedia(id).camera, bob.peerId), true);

  // Leaving: the other side gets 'peer-left' (row and video gone), the left room refuses work.
  const afterLeave = await bob.evaluate(async () => {
    window.room.leave();
    let error;
    try {
      window.room.sendChat('still here?');
    } catch (e) {
      error = { isError: e instanceof Error, name: e.name };
    }
    return { left: window.room.left, peers: window.room.peers().length, error };
  });
  assert.deepEqual(afterLeave, { left: true, peers: 0, error: { isError: true, name: 'RoomLeft' } });
  await ann.locator(`[data-testid="peers"] li[data-peer="${bob.peerId}"]`).waitFor({ state: 'detached' });
  await ann.locator(`video[data-peer="${bob.peerId}"]`).waitFor({ state: 'detached' });

  assert.deepEqual([...ann.problems, ...bob.problems], []);
});

test('a file offered through the page arrives byte-exact after the peer accepts', { timeout: 90_000 }, async () => {
  const room = uniqueRoom('files');
  const ann = await openPage(room, 'Ann', 'none');
  const bob = await openPage(room, 'Bob', 'none');
  await ann.locator(`[data-testid="peers"] li[data-peer="${bob.peerId}"][data-state="connected"]`).waitFor();

  // Over one 8 MiB segment: the receiver keeps it in OPFS, which releaseFile frees.
  const bytes = randomBytes(9 * 1024 * 1024 + 17);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  await ann.getByTestId('file-input').setInputFiles({ name: 'notes.bin', mimeType: 'application/octet-stream', buffer: bytes });

  const offer = bob.locator('[data-testid="transfers"] li[data-state="offered"][data-direction="incoming"]');
  await offer.waitFor();
  assert.match(await offer.textContent(), new RegExp(`^notes\\.bin \\(${bytes.length} bytes\\)`));
  await offer.getByTestId('accept-file').click();

  const link = bob.getByTestId('received-file');
  await link.waitFor();
  assert.equal(await link.textContent(), 'notes.bin');
  const received = await link.evaluate(async (a) => {
    const data = await (await fetch(a.href)).arrayBuffer();
    const digest = await crypto.subtle.digest('SHA-256', data);
    return { size: data.byteLength, sha256: [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('') };
  });
  assert.deepEqual(received, { size: bytes.length, sha256 });
  // The sender learns the receiver's verdict.
  await ann.locator('[data-testid="transfers"] li[data-direction="outgoing"][data-state="completed"][data-verified="true"]').waitFor();

  // Released: the stored copy goes, and so does what the Blob read.
  const stored = () => bob.evaluate(async () => {
    let n = 0;
    try {
      const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('peerlink-incoming');
      for await (const entry of dir.values()) if (entry.kind === 'directory') n += 1;
    } catch {
      // no folder: nothing stored
    }
    return n;
  });
  assert.equal(await stored(), 1);
  await bob.getByTestId('release-file').click();
  await bob.locator('[data-testid="release-file"][data-released="true"]').waitFor();
  assert.equal(await stored(), 0);
  const href = await link.getAttribute('href');
  assert.equal(await link.evaluate(async (a) => fetch(a.href).then(() => 'read', (e) => e.name)), 'TypeError');

  // (The console reports that failed read of the released file, as it should.)
  const unexpected = bob.problems.filter((p) => !p.endsWith(`net::ERR_FILE_NOT_FOUND (${href})`));
  assert.deepEqual([...ann.problems, ...unexpected], []);
});

test('a muted microphone stays muted when the capture is replaced (voice only, then video)', { timeout: 60_000 }, async () => {
  const page = await openPage(uniqueRoom('mute'), 'Mo', 'none');
  const state = await page.evaluate(async () => {
    const room = window.room;
    await room.startMedia({ audio: true });
    room.setMicEnabled(false);
    const stream = await room.startMedia({ audio: true, video: true });
    const [audio] = stream.getAudioTracks();
    const [video] = stream.getVideoTracks();
    const { mic, camera } = room.mediaState();
    return { audioEnabled: audio.enabled, videoEnabled: video.enabled, mic, camera };
  });
  assert.deepEqual(state, { audioEnabled: false, videoEnabled: true, mic: false, camera: true });
  assert.deepEqual(page.problems, []);
});

test('a voice-only caller turning its camera on and off changes its stream (remote-stream-changed)', { timeout: 90_000 }, async () => {
  const room = uniqueRoom('changed');
  const ann = await openPage(room, 'Ann', 'none');
  const bob = await openPage(room, 'Bob', 'none');
  await bob.locator(`[data-testid="peers"] li[data-peer="${ann.peerId}"][data-state="connected"]`).waitFor();
  await ann.evaluate(() => window.room.startMedia({ audio: true }));
  const video = bob.locator(`video[data-peer="${ann.peerId}"]`);
  await bob.locator(`video[data-peer="${ann.peerId}"][data-tracks="audio"]`).waitFor();
  const streamId = await video.getAttribute('data-stream');
  // Camera on: the same stream gains a video track, and its frames arrive.
  await ann.evaluate(() => window.room.startMedia({ audio: true, video: { width: 320, height: 240 } }));
  await bob.locator(`video[data-stream="${streamId}"][data-tracks="audio,video"][data-changes]`).waitFor();
  await bob.waitForFunction((id) => document.querySelector(`video[data-peer="${id}"]`).videoWidth > 0, ann.peerId);
  // Camera off again (voice only): the video track goes, the stream stays.
  await ann.evaluate(() => window.room.startMedia({ audio: true }));
  await bob.locator(`video[data-stream="${streamId}"][data-tracks="audio"]`).waitFor();
  assert.equal(await bob.locator(`video[data-peer="${ann.peerId}"]`).count(), 1);
  assert.deepEqual(ann.problems, []);
  assert.deepEqual(bob.problems, []);
});

test('failures are JS Errors with meaningful names', { timeout: 60_000 }, async () => {
  const page = await openPage(uniqueRoom('errors'), 'Eve', 'none');
  const results = await page.evaluate(async () => {
    const { Room } = await import('peerlink');
    const serverUrl = new URL('/ws', location.href);
    serverUrl.protocol = 'ws:';
    const caught = async (f) => {
      try {
        await f();
        return 'no error';
      } catch (e) {
        return { isError: e instanceof Error, name: e.name, code: e.code, url: e.url };
      }
    };
    const room = `pw-${Math.random().toString(36).slice(2)}`;
    const first = await Room.join({ serverUrl: serverUrl.href, room, name: 'First', password: 'right' });
    const out = {
      wrongPassword: await caught(() => Room.join({ serverUrl: serverUrl.href, room, name: 'Second', password: 'wrong' })),
      unreachable: await caught(() => Room.join({ serverUrl: 'ws://127.0.0.1:9/ws', room, name: 'X' })),
      badOptions: await caught(() => Room.join({ room, name: 'X' })),
      emptyChat: await caught(() => window.room.sendChat('   ')),
      unknownEvent: await caught(() => window.room.on('peer-joind', () => {})),
      noMedia: await caught(() => window.room.startMedia({ audio: false })),
      badMedia: await caught(() => window.room.startMedia({ audio: true, video: 'yes' })),
      badVideo: await caught(() => window.room.startMedia({ video: { width: 'wide' } })),
      unknownPeer: await caught(() => window.room.stats('nobody')),
      badDeviceKind: await caught(() => window.room.switchDevice('audiooutput', 'x')),
    };
    first.leave();
    out.afterLeave = await caught(() => first.startMedia());
    return out;
  });
  const error = (name, extra = {}) => ({ isError: true, name, code: undefined, url: undefined, ...extra });
  assert.deepEqual(results, {
    wrongPassword: error('Rejected', { code: 'wrong_password' }),
    unreachable: error('SignalingUnreachable', { url: 'ws://127.0.0.1:9/ws' }),
    badOptions: error('InvalidInput'),
    emptyChat: error('InvalidInput'),
    unknownEvent: error('InvalidInput'),
    noMedia: error('InvalidInput'),
    badMedia: error('InvalidInput'),
    badVideo: error('InvalidInput'),
    unknownPeer: error('InvalidInput'),
    badDeviceKind: error('InvalidInput'),
    afterLeave: error('RoomLeft'),
  });
  // The browser logs the refused WebSocket to 127.0.0.1:9 itself; nothing else.
  assert.deepEqual(page.problems.filter((p) => !p.includes('ws://127.0.0.1:9/ws')), []);
});
