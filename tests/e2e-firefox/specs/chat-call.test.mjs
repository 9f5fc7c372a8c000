// Two Firefox peers in one room: chat both ways; the title of a hidden page counts
// what arrived; a video call where each side decodes the other's camera
// (RTCPeerConnection.getStats of the page).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { serverAndFirefox } from '../lib/firefox.mjs';
import { joinPair, poll, withPeers } from '../lib/peer.mjs';
import { offer, row, rowState } from '../lib/files.mjs';
import { expectMediaFlowing } from '../lib/media.mjs';

/** Bound for node:test, which has none by default (each wait inside has its own). */
const TEST_TIMEOUT_MS = 90_000;

describe('two Firefox ESR peers', () => {
  const env = serverAndFirefox();

  test('join one room and chat both ways', { timeout: TEST_TIMEOUT_MS }, () =>
    withPeers(env.browser, env.server, ['Ada', 'Bo'], async ([ada, bo]) => {
      await joinPair(ada, bo, 'ff-chat', 'chat');

      await ada.sendChat('hello from Ada in Firefox');
      await bo.expectMessagesFrom('Ada', ['hello from Ada in Firefox']);
      await bo.sendChat('hi Ada, Bo here');
      await ada.expectMessagesFrom('Bo', ['hi Ada, Bo here']);
      // Each also shows its own message, under its own name.
      await ada.expectMessagesFrom('Ada', ['hello from Ada in Firefox']);
      await bo.expectMessagesFrom('Bo', ['hi Ada, Bo here']);
    }));

  test('while a page is hidden (another tab in front), its title counts the messages and file offers that arrived (files offered together once)', { timeout: TEST_TIMEOUT_MS }, () =>
    withPeers(env.browser, env.server, ['Ada', 'Bo'], async ([ada, bo]) => {
      await joinPair(ada, bo, 'ff-unread', 'chat');
      const base = 'ff-unread — peerlink';
      const titleOf = (peer, expected, message) => poll(() => peer.page.title(), (t) => t === expected, { message });
      await titleOf(bo, base, "Bo's title to name the room");
      const hidden = () => bo.page.evaluate(() => document.hidden);

      const elsewhere = await bo.context.newPage({ type: 'tab' });
      const dir = mkdtempSync(path.join(os.tmpdir(), 'peerlink-ff-unread-'));
      try {
        await poll(hidden, (h) => h === true, { message: "Bo's page to be hidden behind the new tab" });
        await ada.sendChat('are you there?');
        await bo.expectMessagesFrom('Ada', ['are you there?']);
        await titleOf(bo, `(1) ${base}`, "Bo's title to count one message");
        await ada.sendChat('sending you the notes');
        await bo.expectMessagesFrom('Ada', ['are you there?', 'sending you the notes']);
        await titleOf(bo, `(2) ${base}`, "Bo's title to count two messages");
        // Two files picked together make one line in the chat, and count once.
        const names = ['notes.txt', 'minutes.txt'];
        for (const name of names) writeFileSync(path.join(dir, name), `the ${name}\n`);
        await offer(ada, ...names.map((name) => path.join(dir, name)));
        for (const name of names) {
          await poll(() => rowState(bo, row(name, 'incoming')), (r) => r?.state === 'offered', {
            message: `Bo's offer row of ${name}`,
          });
        }
        await titleOf(bo, `(3) ${base}`, "Bo's title to count the two files offered together once");
        // Ada's page was in front all along: nothing counted there.
        assert.equal(await ada.page.title(), base);

        // Bo's tab in front again: the count goes.
        await bo.page.bringToFront();
        await poll(hidden, (h) => h === false, { message: "Bo's page to be shown again" });
        await titleOf(bo, base, "Bo's title to lose the count");
      } finally {
        await elsewhere.close();
        rmSync(dir, { recursive: true, force: true });
      }
    }));

  test('a video call: each decodes the other camera and hears the other mic', { timeout: TEST_TIMEOUT_MS }, () =>
    withPeers(env.browser, env.server, ['Cy', 'Di'], async ([cy, di]) => {
      const [cyIds, diIds] = await joinPair(cy, di, 'ff-call', 'video');
      await expectMediaFlowing(cy, di, cyIds.Di);
      await expectMediaFlowing(di, cy, diIds.Cy);
    }));
});
