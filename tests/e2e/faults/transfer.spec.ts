import path from 'node:path';
import { joinWith } from '../lib/call';
import { generateFile, saveDownload, sha256File, transferRow } from '../lib/files';
import type { PeerPage } from '../lib/peer-page';
import type { Locator, Page, TestInfo } from '@playwright/test';
import { expect, marks, test, type Mark } from './lib/fixtures';

// Two browsers on two network hosts (scripts/two-hosts.sh): Ada's Chromium in
// host a (which also runs peerlink-server), Bo's in host b; everything between
// them crosses the one veth link, where the faults are injected. Run with
// scripts/test-faults.sh (make test-faults).

const MiB = 1024 * 1024;
/** How long the link stays cut: the experimental condition, not a wait for anything. */
const CUT_MS = 6_000;
/** How long each side may take to notice the cut (measured: 5–9 s). */
const DISCONNECT_TIMEOUT_MS = 20_000;

async function connectedPair(hosts: { open(): Promise<{ ada: PeerPage; bo: PeerPage }> }, room: string) {
  const { ada, bo } = await hosts.open();
  await joinWith(ada, room, 'chat');
  await joinWith(bo, room, 'chat');
  await ada.expectConnectedTo([bo]);
  await bo.expectConnectedTo([ada]);
  return { ada, bo };
}

/** Ada offers `file`, Bo accepts it; returns both rows. */
async function sendAndAccept(ada: PeerPage, bo: PeerPage, file: string) {
  const name = path.basename(file);
  await ada.page.getByTestId('file-input').setInputFiles(file);
  const incoming = transferRow(bo, name, 'incoming');
  await expect(incoming).toHaveAttribute('data-state', 'offered', { timeout: 20_000 });
  await expect(incoming).toContainText('from Ada');
  await incoming.getByTestId('transfer-accept').click();
  return { incoming, outgoing: transferRow(ada, name, 'outgoing') };
}

/** Notes a finding in the report and prints it (the list reporter shows test output). */
function report(testInfo: TestInfo, ...notes: { type: string; description: string }[]) {
  for (const note of notes) {
    testInfo.annotations.push(note);
    console.log(`  ${testInfo.title.slice(0, 24)}… ${note.type}: ${note.description}`);
  }
}

function progressOf(all: Mark[], name: string, direction: string): Mark[] {
  return all.filter((m) => m.testid === 'transfer-progress' && m.key === name && m.direction === direction);
}

function statesOf(all: Mark[], testid: string, key: string): Mark[] {
  return all.filter((m) => m.testid === testid && m.key === key && m.state !== undefined);
}

/** Whether `peer` showed `other` in `state` at or after `since` (from the page's own record). */
async function sawSince(peer: PeerPage, other: string, state: string, since: number): Promise<boolean> {
  return statesOf(await marks(peer), 'participant', other).some((m) => m.t >= since && m.state === state);
}

/** Waits until Bo's row `incoming` has a tenth of its file. */
async function aTenthArrived(incoming: Locator): Promise<void> {
  const progress = incoming.getByTestId('transfer-progress');
  await expect
    .poll(async () => Number(await progress.getAttribute('value')), { timeout: 60_000, message: 'Bo has received a tenth of the file' })
    .toBeGreaterThan(0.1);
}

test.describe('file transfer between two network hosts', () => {
  test('a 64 MiB file survives 5 % random UDP loss in both directions, byte-exact', async ({ hosts, faults, room, scratch }, testInfo) => {
    test.setTimeout(180_000);
    const size = 64 * MiB;
    const dir = scratch;
    const source = path.join(dir, 'lossy.bin');
    const expected = generateFile(source, size, 11);

    const { ada, bo } = await connectedPair(hosts, room);
    // Loss on the link only from here on: the test is about the transfer, not
    // about connection setup under loss.
    await faults.udpLoss(5, ['a', 'b']);

    const { incoming, outgoing } = await sendAndAccept(ada, bo, source);
    const started = Date.now();
    await expect(incoming).toHaveAttribute('data-state', 'verified', { timeout: 150_000 });
    const seconds = (Date.now() - started) / 1000;
    await expect(outgoing).toHaveAttribute('data-state', 'verified');

    // The loss was real, and about what was asked for, in both directions.
    for (const host of ['a', 'b'] as const) {
      const { udpIn, dropped } = await faults.udpCounters(host);
      report(testInfo, { type: `host ${host} UDP in`, description: `${udpIn} packets, ${dropped} dropped (${((100 * dropped) / udpIn).toFixed(2)} %)` });
      expect(udpIn, `UDP packets into host ${host}`).toBeGreaterThan(1_000);
      expect(dropped / udpIn, `share of UDP dropped into host ${host}`).toBeGreaterThan(0.03);
      expect(dropped / udpIn, `share of UDP dropped into host ${host}`).toBeLessThan(0.07);
    }
    report(testInfo, { type: 'throughput', description: `${(size / MiB / seconds).toFixed(2)} MiB/s (${seconds.toFixed(1)} s accept → verified)` });

    const saved = await saveDownload(bo, incoming, dir);
    expect(await sha256File(saved)).toBe(expected);
  });

  test('a 128 MiB transfer resumes after the link is cut for 6 s and completes with the right hash', async ({ hosts, faults, room, scratch }, testInfo) => {
    test.setTimeout(180_000);
    const size = 128 * MiB;
    const dir = scratch;
    const source = path.join(dir, 'cut.bin');
    const expected = generateFile(source, size, 12);

    const { ada, bo } = await connectedPair(hosts, room);
    const { incoming, outgoing } = await sendAndAccept(ada, bo, source);
    await expect(incoming).toHaveAttribute('data-state', 'transferring');
    const progress = incoming.getByTestId('transfer-progress');
    await aTenthArrived(incoming);

    // Cut the link. It stays cut for CUT_MS, the condition under test, and in
    // any case until both sides have noticed (each lists the other as
    // disconnected: Chromium takes 5–9 s without packets to say so), so
    // the check that the cut was real never races the timer.
    const cutAt = Date.now();
    await faults.linkDown('a');
    const boSeesAda = bo.participant('Ada');
    const adaSeesBo = ada.participant('Bo');
    await expect
      .poll(() => sawSince(bo, 'Ada', 'disconnected', cutAt), { timeout: DISCONNECT_TIMEOUT_MS, intervals: [250], message: 'Bo sees Ada disconnected during the cut' })
      .toBe(true);
    await expect
      .poll(() => sawSince(ada, 'Bo', 'disconnected', cutAt), { timeout: DISCONNECT_TIMEOUT_MS, intervals: [250], message: 'Ada sees Bo disconnected during the cut' })
      .toBe(true);
    const progressAtCut = Number(await progress.getAttribute('value'));
    await new Promise((r) => setTimeout(r, Math.max(0, cutAt + CUT_MS - Date.now())));
    const upAt = Date.now();
    await faults.linkUp('a');

    await expect(boSeesAda).toHaveAttribute('data-state', 'connected', { timeout: 30_000 });
    await expect(adaSeesBo).toHaveAttribute('data-state', 'connected', { timeout: 30_000 });
    const reconnectedAt = Date.now();
    await expect(incoming).toHaveAttribute('data-state', 'verified', { timeout: 120_000 });
    await expect(outgoing).toHaveAttribute('data-state', 'verified');
    const saved = await saveDownload(bo, incoming, dir);
    expect(await sha256File(saved)).toBe(expected);

    // What happened, from the pages' own records.
    const boMarks = await marks(bo);
    const adaMarks = await marks(ada);
    const during = (ms: Mark[]) => ms.filter((m) => m.t >= cutAt).map((m) => `${m.state}@+${m.t - cutAt}ms`);
    const received = progressOf(boMarks, 'cut.bin', 'incoming');
    // Resumed, not restarted: what Bo has received never goes back.
    for (let i = 1; i < received.length; i++) {
      expect(received[i].progress!, `Bo's progress at +${received[i].t - cutAt} ms`).toBeGreaterThanOrEqual(received[i - 1].progress!);
    }
    const moving = received.filter((m) => m.t >= cutAt && m.progress! > progressAtCut + 0.001);
    report(
      testInfo,
      { type: 'cut', description: `${upAt - cutAt} ms (link va down in host a), at ${(100 * progressAtCut).toFixed(1)} % received` },
      { type: 'Bo sees Ada', description: during(statesOf(boMarks, 'participant', 'Ada')).join(' → ') },
      { type: 'Ada sees Bo', description: during(statesOf(adaMarks, 'participant', 'Bo')).join(' → ') },
      { type: 'incoming row', description: during(statesOf(boMarks, 'transfer', 'cut.bin').filter((m) => m.direction === 'incoming')).join(' → ') || '(no change)' },
      { type: 'outgoing row', description: during(statesOf(adaMarks, 'transfer', 'cut.bin').filter((m) => m.direction === 'outgoing')).join(' → ') || '(no change)' },
      {
        type: 'resume',
        description: `connected again ${reconnectedAt - upAt} ms after link up; first new bytes at +${moving.length ? moving[0].t - upAt : NaN} ms after link up`,
      },
    );
  });
});

/**
 * The local ICE username fragment of `page`'s link to its one peer (a new one
 * means an ICE restart), and whether a candidate pair is selected and working.
 */
function iceOf(page: Page): Promise<{ ufrag: string; working: boolean }> {
  return page.evaluate(async () => {
    const peers = (window as any).peerlink?.peers as Map<string, RTCPeerConnection> | undefined;
    const pc = peers ? [...peers.values()][0] : undefined;
    if (!pc) return { ufrag: '', working: false };
    const stats = (await pc.getStats()) as unknown as Map<string, any>;
    for (const s of stats.values()) {
      if (s.type !== 'transport') continue;
      const pair = s.selectedCandidatePairId ? stats.get(s.selectedCandidatePairId) : undefined;
      return { ufrag: s.iceLocalUsernameFragment ?? '', working: pair?.state === 'succeeded' && s.iceState === 'connected' };
    }
    return { ufrag: '', working: false };
  });
}

test.describe('recovery of the peer link', () => {
  test('Bo changes address: its signaling connection is noticed dead and replaced, and Cy, who joins meanwhile, links with Bo', async ({ hosts, faults, room }, testInfo) => {
    test.setTimeout(150_000);
    const { ada, bo } = await connectedPair(hosts, room);

    // Every socket of Bo's on its old address is dead from here on, the WebSocket
    // to the server too (TCP would take minutes to say so). The peer link is UDP
    // on a socket bound to any address: Chromium's ICE carries on from the new one.
    const movedAt = Date.now();
    await faults.changeAddress('b', '10.78.0.22');
    await ada.sendChat('still there?');
    await bo.expectMessagesFrom('Ada', ['still there?']);
    await bo.sendChat('yes, on another network');
    await ada.expectMessagesFrom('Bo', ['yes, on another network']);

    // Cy joins while Bo's signaling is dead: the server cannot tell Bo, and Cy's
    // offer to Bo is lost with Bo's old socket. Bo must notice, come back under
    // its id, and link with Cy.
    const cy = await hosts.another('a', 'Cy');
    await joinWith(cy, room, 'chat');
    await expect(cy.participant('Ada')).toHaveAttribute('data-state', 'connected', { timeout: 20_000 });
    await expect(cy.participant('Bo')).toHaveAttribute('data-state', 'connected', { timeout: 90_000 });
    await expect(bo.participant('Cy')).toHaveAttribute('data-state', 'connected');
    const linkedAt = Date.now();
    await cy.sendChat('hello both');
    await bo.expectMessagesFrom('Cy', ['hello both']);
    await ada.expectMessagesFrom('Cy', ['hello both']);
    // Ada and Bo never lost each other.
    expect(statesOf(await marks(bo), 'participant', 'Ada').filter((m) => m.t >= movedAt).map((m) => m.state)).toEqual([]);
    report(testInfo, { type: 'Cy linked with Bo', description: `${linkedAt - movedAt} ms after Bo's address changed` });
  });

  test('the link is down for longer than ICE waits: both sides see it fail, an ICE restart brings it back, and the transfer under way completes with the right hash', async ({ hosts, faults, room, scratch }, testInfo) => {
    test.setTimeout(240_000);
    const size = 64 * MiB;
    const source = path.join(scratch, 'failed.bin');
    const expected = generateFile(source, size, 14);

    const { ada, bo } = await connectedPair(hosts, room);
    const before = { ada: await iceOf(ada.page), bo: await iceOf(bo.page) };
    const { incoming, outgoing } = await sendAndAccept(ada, bo, source);
    await aTenthArrived(incoming);

    // Down until both sides have given the link up (ICE "failed"; Bo's socket to
    // the server, which crosses the same link, is lost too): only a new ICE
    // negotiation can bring it back after that.
    const cutAt = Date.now();
    await faults.linkDown('a');
    await expect.poll(() => sawSince(bo, 'Ada', 'failed', cutAt), { timeout: 90_000, intervals: [500], message: 'Bo sees the link to Ada fail' }).toBe(true);
    await expect.poll(() => sawSince(ada, 'Bo', 'failed', cutAt), { timeout: 90_000, intervals: [500], message: 'Ada sees the link to Bo fail' }).toBe(true);
    const upAt = Date.now();
    await faults.linkUp('a');

    await expect(bo.participant('Ada')).toHaveAttribute('data-state', 'connected', { timeout: 60_000 });
    await expect(ada.participant('Bo')).toHaveAttribute('data-state', 'connected', { timeout: 60_000 });
    const reconnectedAt = Date.now();
    for (const [name, peer] of [['Ada', ada], ['Bo', bo]] as const) {
      const after = await iceOf(peer.page);
      expect(after.working, `${name}'s link works again`).toBe(true);
      expect(after.ufrag, `${name}'s ICE credentials after the restart`).not.toBe(before[name === 'Ada' ? 'ada' : 'bo'].ufrag);
    }
    await expect(incoming).toHaveAttribute('data-state', 'verified', { timeout: 120_000 });
    await expect(outgoing).toHaveAttribute('data-state', 'verified');
    const saved = await saveDownload(bo, incoming, scratch);
    expect(await sha256File(saved)).toBe(expected);
    await bo.sendChat('back');
    await ada.expectMessagesFrom('Bo', ['back']);

    const during = (ms: Mark[]) => ms.filter((m) => m.t >= cutAt).map((m) => `${m.state}@+${m.t - cutAt}ms`);
    report(
      testInfo,
      { type: 'Bo sees Ada', description: during(statesOf(await marks(bo), 'participant', 'Ada')).join(' → ') },
      { type: 'Ada sees Bo', description: during(statesOf(await marks(ada), 'participant', 'Bo')).join(' → ') },
      { type: 'link down', description: `${upAt - cutAt} ms; connected again ${reconnectedAt - upAt} ms after it came back` },
    );
  });
});
