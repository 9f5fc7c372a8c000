// A Firefox ESR user and a Chromium user in one room — the mix a real call has:
// chat both ways, a video call where each side decodes the other's camera
// (RTCPeerConnection.getStats of the page) and a screen share, and a file each
// way at the same time, each verified by the app and hashed by the test. The two browsers differ
// in what they put in the SDP (codecs, max-message-size: Chromium takes messages
// up to 256 KiB, Firefox up to 1 GiB) and in their SCTP stacks.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { withChromium } from '../lib/chromium.mjs';
import { serverAndFirefox } from '../lib/firefox.mjs';
import { hashDownload, offerAndAccept, row, rowState } from '../lib/files.mjs';
import { expectMediaFlowing } from '../lib/media.mjs';
import { CONNECT_TIMEOUT_MS, joinPair, poll, tid, withPeers } from '../lib/peer.mjs';
import { generateFile } from '../../lib/generate-file.mjs';

const MiB = 1024 * 1024;
const TRANSFER_TIMEOUT_MS = 120_000;
/** Bound for node:test, which has none by default (each wait inside has its own). */
const TEST_TIMEOUT_MS = 180_000;

describe('a Firefox ESR peer and a Chromium peer', () => {
  const env = withChromium(serverAndFirefox());
  let dir;

  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'peerlink-interop-'));
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Ada in Firefox, Bo in Chromium. */
  const browsers = () => [env.browser, env.chromium];

  test('chat both ways, a video call where each decodes the other camera and hears the other mic, and a screen share from Chromium, full screen in Firefox', { timeout: TEST_TIMEOUT_MS }, () =>
    withPeers(browsers(), env.server, ['Ada', 'Bo'], async ([ada, bo]) => {
      assert.match(await ada.page.browser().version(), /firefox/i);
      assert.match(await bo.page.browser().version(), /chrom/i);
      const [adaIds, boIds] = await joinPair(ada, bo, 'mixed-call', 'video');
      await ada.sendChat('hello from Firefox');
      await bo.expectMessagesFrom('Ada', ['hello from Firefox']);
      await bo.sendChat('hello from Chromium');
      await ada.expectMessagesFrom('Bo', ['hello from Chromium']);
      await expectMediaFlowing(ada, bo, adaIds.Bo);
      await expectMediaFlowing(bo, ada, boIds.Ada);

      // Bo shares Chromium's fake screen: Ada's Firefox shows it beside the camera,
      // at the size Bo captures, and drops it when Bo stops.
      const screenOfBo = tid('remote-tile', { 'data-peer-id': adaIds.Bo, 'data-kind': 'screen' });
      const sizes = (peer, selector) =>
        peer.page.$$eval(selector, (vs) => vs.map((v) => [v.videoWidth, v.videoHeight]));
      await bo.page.locator(tid('toggle-screen')).click();
      const [captured] = await poll(() => sizes(bo, tid('local-screen')), (s) => s.length === 1 && s[0][0] > 0, {
        timeout: CONNECT_TIMEOUT_MS,
        message: "Bo's own screen share to show",
      });
      await poll(() => sizes(ada, `${screenOfBo} video`), (s) => s.length === 1 && s[0][0] === captured[0] && s[0][1] === captured[1], {
        timeout: CONNECT_TIMEOUT_MS,
        message: `Ada to show Bo's screen at ${captured.join('x')}`,
      });
      // Firefox shows it full screen (the tile's button) and back.
      const fullscreen = () => ada.page.evaluate(() => document.fullscreenElement?.getAttribute('data-kind') ?? null);
      await ada.page.locator(`${screenOfBo} ${tid('tile-fullscreen')}`).click();
      await poll(fullscreen, (kind) => kind === 'screen', { message: "Ada's page to show Bo's screen full screen" });
      await ada.page.locator(`${screenOfBo} ${tid('tile-fullscreen')}`).click();
      await poll(fullscreen, (kind) => kind === null, { message: "Ada's page to leave full screen" });

      await bo.page.locator(tid('toggle-screen')).click();
      await poll(() => ada.page.$$(screenOfBo), (tiles) => tiles.length === 0, {
        timeout: CONNECT_TIMEOUT_MS,
        message: "Bo's screen tile to leave Ada's page",
      });
      assert.equal((await ada.page.$$(tid('remote-tile', { 'data-peer-id': adaIds.Bo, 'data-kind': 'camera' }))).length, 1);
    }));

  test('a file each way at once arrives byte-exact: verified by the app, hashed by the test', { timeout: TEST_TIMEOUT_MS }, async () => {
    // Sizes that are not a whole number of chunks in either direction.
    const fromFirefox = path.join(dir, 'from-firefox.bin');
    const fromChromium = path.join(dir, 'from-chromium.bin');
    const sizes = { [fromFirefox]: 20 * MiB + 12_345, [fromChromium]: 17 * MiB + 999 };
    const expected = {
      [fromFirefox]: generateFile(fromFirefox, sizes[fromFirefox], 31),
      [fromChromium]: generateFile(fromChromium, sizes[fromChromium], 32),
    };
    await withPeers(browsers(), env.server, ['Ada', 'Bo'], async ([ada, bo]) => {
      await joinPair(ada, bo, 'mixed-files', 'chat');
      await offerAndAccept(ada, bo, fromFirefox);
      await offerAndAccept(bo, ada, fromChromium);
      for (const [sender, receiver, source] of [[ada, bo, fromFirefox], [bo, ada, fromChromium]]) {
        const name = path.basename(source);
        const incoming = row(name, 'incoming');
        await poll(() => rowState(receiver, incoming), (r) => r?.state === 'verified', {
          timeout: TRANSFER_TIMEOUT_MS,
          message: `${receiver.name}'s row of ${name} to reach verified`,
        });
        await poll(() => rowState(sender, row(name, 'outgoing')), (r) => r?.state === 'verified', {
          message: `${sender.name}'s row of ${name} to reach verified`,
        });
        await poll(() => receiver.attribute(`${incoming} [data-testid="transfer-download"]`, 'href'), (href) => !!href, {
          message: `${receiver.name}'s Save link of ${name}`,
        });
        assert.deepEqual(await hashDownload(receiver, incoming), { name, size: sizes[source], sha256: expected[source] });
      }
    });
  });
});
