// Two Firefox peers in one room: chat both ways, then a video call where each
// side decodes the other's camera (RTCPeerConnection.getStats of the page).
import { describe, test } from 'node:test';
import { serverAndFirefox } from '../lib/firefox.mjs';
import { joinPair, withPeers } from '../lib/peer.mjs';
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

  test('a video call: each decodes the other camera and hears the other mic', { timeout: TEST_TIMEOUT_MS }, () =>
    withPeers(env.browser, env.server, ['Cy', 'Di'], async ([cy, di]) => {
      const [cyIds, diIds] = await joinPair(cy, di, 'ff-call', 'video');
      await expectMediaFlowing(cy, di, cyIds.Di);
      await expectMediaFlowing(di, cy, diIds.Cy);
    }));
});
