// The peer link gives out and comes back, in Firefox: every UDP packet in the
// test's network namespace is dropped (nftables) until both pages say the link
// has failed, so only a new ICE negotiation can bring it back; the signaling
// WebSocket (TCP) keeps working meanwhile, as on a network that lost UDP. After
// ~30 s without packets Firefox also gives up the SCTP association under the data
// channels, which no ICE restart revives: then the pages start over with a new
// connection (`relink`). A file transfer under way when the link went continues
// on the new connection and arrives whole (hashed by the test), and a chat
// message typed while the link was down arrives once it is back, once; a video call
// shows each side's camera again, on one tile. Two Firefox peers, then a Firefox
// and a Chromium peer (whose SCTP outlasts the outage).
// Runs where the suite runs: inside scripts/netns.sh, as root of that namespace,
// with nft installed (scripts/setup.sh --browsers).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { withChromium } from '../lib/chromium.mjs';
import { serverAndFirefox } from '../lib/firefox.mjs';
import { hashDownload, offerAndAccept, row, rowState } from '../lib/files.mjs';
import { expectMediaFlowing } from '../lib/media.mjs';
import { joinPair, poll, withPeers } from '../lib/peer.mjs';
import { generateFile } from '../../lib/generate-file.mjs';

const TEST_TIMEOUT_MS = 180_000;
/** How long each browser may take to call the link failed (measured: Chromium ~16 s, Firefox ~30 s). */
const FAIL_TIMEOUT_MS = 60_000;
const MiB = 1024 * 1024;
const TABLE = 'peerlink_udp_cut';

function nft(script) {
  execFileSync('nft', ['-f', '-'], { input: script });
}

/**
 * Drops every UDP packet as it arrives in this namespace (the peer links; not the
 * server's TCP). On input, as a lossy network would: dropped on output, the
 * sender's own sendto() fails, which Firefox takes as the link failing at once.
 */
function cutUdp() {
  nft(`table inet ${TABLE}\ndelete table inet ${TABLE}\ntable inet ${TABLE} {\n  chain in { type filter hook input priority 0; policy accept; meta l4proto udp drop; }\n}\n`);
}

function restoreUdp() {
  nft(`table inet ${TABLE}\ndelete table inet ${TABLE}\n`);
}

/** Records every data-state change of the page's participant rows, with the time (a failed state lasts milliseconds). */
function recordStates(peer) {
  return peer.page.evaluate(() => {
    window.__states = [];
    const note = (li) => window.__states.push({ t: Date.now(), name: li.dataset.name, state: li.dataset.state });
    new MutationObserver((records) => {
      for (const r of records) if (r.target instanceof Element && r.target.dataset.testid === 'participant') note(r.target);
    }).observe(document.body, { subtree: true, attributes: true, attributeFilter: ['data-state'] });
  });
}

/** The states `peer` showed for `other` since `since`. */
function statesSince(peer, other, since) {
  return peer.page.evaluate(
    (name, t0) => window.__states.filter((s) => s.name === name && s.t >= t0).map((s) => s.state),
    other,
    since,
  );
}

/** The ICE username fragment of the page's local description for its one peer (a new one means an ICE restart). */
function localUfrag(peer) {
  return peer.page.evaluate(() => {
    const pc = [...(window.peerlink?.peers?.values() ?? [])][0];
    return /a=ice-ufrag:(\S+)/.exec(pc?.localDescription?.sdp ?? '')?.[1] ?? '';
  });
}

/**
 * Cuts UDP until both pages call the link failed (`whileDown` runs then, before
 * UDP is let through again), waits until both are connected again with new ICE
 * credentials, and returns a line per page on what it went through.
 */
async function outage(ada, bo, whileDown = async () => {}) {
  await Promise.all([recordStates(ada), recordStates(bo)]);
  const before = { Ada: await localUfrag(ada), Bo: await localUfrag(bo) };
  assert.ok(before.Ada && before.Bo, 'both pages have a local description');
  for (const peer of [ada, bo]) {
    await peer.page.evaluate(() => {
      [...window.peerlink.peers.values()][0].__beforeCut = true;
    });
  }
  const cutAt = Date.now();
  cutUdp();
  try {
    for (const [peer, other] of [[ada, 'Bo'], [bo, 'Ada']]) {
      await poll(() => statesSince(peer, other, cutAt), (states) => states.includes('failed'), {
        timeout: FAIL_TIMEOUT_MS,
        message: `${peer.name} to see the link to ${other} fail`,
      });
    }
    await whileDown();
  } finally {
    restoreUdp();
  }
  const upAt = Date.now();
  await ada.expectConnectedTo([bo]);
  await bo.expectConnectedTo([ada]);
  for (const peer of [ada, bo]) {
    assert.notEqual(await localUfrag(peer), before[peer.name], `${peer.name}'s ICE credentials after the outage`);
  }
  return async () => {
    for (const [peer, other] of [[ada, 'Bo'], [bo, 'Ada']]) {
      const same = await peer.page.evaluate(() => [...window.peerlink.peers.values()][0].__beforeCut === true);
      const states = (await statesSince(peer, other, cutAt)).join(' → ');
      const how = same ? 'the same connection, ICE restarted' : 'a new connection';
      console.log(`  ${peer.name} saw ${other}: ${states} (UDP back after ${upAt - cutAt} ms; ${how})`);
    }
  };
}

/**
 * Ada sends Bo a 64 MiB file; once a tenth has arrived, the link goes down until
 * both pages call it failed and comes back: chat must go both ways, and the file
 * arrive verified, with the bytes the test hashes itself.
 */
async function transferThroughOutage([ada, bo], dir) {
  const source = path.join(dir, 'outage.bin');
  const size = 64 * MiB;
  const sha256 = generateFile(source, size, 41);
  await offerAndAccept(ada, bo, source);
  const incoming = row('outage.bin', 'incoming');
  await poll(() => bo.attribute(`${incoming} [data-testid="transfer-progress"]`, 'value'), (v) => Number(v) > 0.1, {
    timeout: 60_000,
    message: 'Bo to have a tenth of the file',
  });
  const report = await outage(ada, bo, async () => {
    assert.notEqual((await rowState(bo, incoming))?.state, 'verified', 'the file was still on its way when the link failed');
    // Typed while the link is down: it must arrive once the link is back, once.
    await ada.sendChat('sent while the link was down');
  });
  await poll(() => rowState(bo, incoming), (r) => r?.state === 'verified', {
    timeout: 90_000,
    message: "Bo's row of outage.bin to reach verified",
  });
  // The link the file finished on carries chat both ways.
  await ada.sendChat('back again?');
  await bo.expectMessagesFrom('Ada', ['sent while the link was down', 'back again?']);
  await bo.sendChat('yes');
  await ada.expectMessagesFrom('Bo', ['yes']);
  await poll(() => bo.attribute(`${incoming} [data-testid="transfer-download"]`, 'href'), (href) => !!href, {
    message: "Bo's Save link of outage.bin",
  });
  assert.deepEqual(await hashDownload(bo, incoming), { name: 'outage.bin', size, sha256 });
  await report();
}

describe('the peer link fails and comes back, with a transfer under way', () => {
  const env = withChromium(serverAndFirefox());
  const dir = mkdtempSync(path.join(os.tmpdir(), 'peerlink-ff-recovery-'));
  after(() => {
    rmSync(dir, { recursive: true, force: true });
    try {
      restoreUdp();
    } catch {
      // not cut
    }
  });

  test('two Firefox peers', { timeout: TEST_TIMEOUT_MS }, () =>
    withPeers(env.browser, env.server, ['Ada', 'Bo'], async (peers) => {
      await joinPair(peers[0], peers[1], 'ff-ice-restart', 'chat');
      await transferThroughOutage(peers, dir);
    }));

  test('a Firefox and a Chromium peer', { timeout: TEST_TIMEOUT_MS }, () =>
    withPeers([env.browser, env.chromium], env.server, ['Ada', 'Bo'], async (peers) => {
      await joinPair(peers[0], peers[1], 'ff-cr-ice-restart', 'chat');
      await transferThroughOutage(peers, dir);
    }));

  test('a video call between Firefox and Chromium: each sees and hears the other again, on one tile', { timeout: TEST_TIMEOUT_MS }, () =>
    withPeers([env.browser, env.chromium], env.server, ['Ada', 'Bo'], async ([ada, bo]) => {
      const [adaIds, boIds] = await joinPair(ada, bo, 'ff-cr-call-outage', 'video');
      await expectMediaFlowing(ada, bo, adaIds.Bo);
      await expectMediaFlowing(bo, ada, boIds.Ada);
      const report = await outage(ada, bo);
      // The streams of a replaced connection went with it: one camera tile each.
      await expectMediaFlowing(ada, bo, adaIds.Bo);
      await expectMediaFlowing(bo, ada, boIds.Ada);
      await report();
    }));
});
