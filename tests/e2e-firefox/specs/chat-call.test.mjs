// Two Firefox peers in one room: chat both ways, then a video call where each
// side decodes the other's camera (RTCPeerConnection.getStats of the page).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { serverAndFirefox } from '../lib/firefox.mjs';
import { CONNECT_TIMEOUT_MS, joinPair, poll, tid, withPeers } from '../lib/peer.mjs';

/** Bound for node:test, which has none by default (each wait inside has its own). */
const TEST_TIMEOUT_MS = 90_000;

/** Inbound RTP totals on `viewer`'s RTCPeerConnection to peer `id` (window.peerlink.peers). */
function inbound(viewer, id) {
  return viewer.page.evaluate(async (id) => {
    const pc = window.peerlink?.peers?.get(id);
    if (!pc) throw new Error(`no RTCPeerConnection for ${id}`);
    const out = { videoStreams: 0, audioStreams: 0, framesDecoded: 0, videoBytes: 0, audioBytes: 0 };
    (await pc.getStats()).forEach((s) => {
      if (s.type !== 'inbound-rtp') return;
      if (s.kind === 'video') {
        out.videoStreams += 1;
        out.framesDecoded += s.framesDecoded ?? 0;
        out.videoBytes += s.bytesReceived ?? 0;
      } else if (s.kind === 'audio') {
        out.audioStreams += 1;
        out.audioBytes += s.bytesReceived ?? 0;
      }
    });
    return out;
  }, id);
}

/** Waits until `viewer` decodes video and receives audio from peer `id`, and both keep rising. */
async function expectMediaFlowing(viewer, other, id) {
  const what = `${viewer.name} receiving ${other.name}'s camera and mic`;
  const first = await poll(() => inbound(viewer, id), (s) => s.framesDecoded > 0 && s.audioBytes > 0, {
    timeout: CONNECT_TIMEOUT_MS,
    message: what,
  });
  assert.equal(first.videoStreams, 1, `${viewer.name} has one inbound video stream from ${other.name}`);
  assert.equal(first.audioStreams, 1, `${viewer.name} has one inbound audio stream from ${other.name}`);
  await poll(
    () => inbound(viewer, id),
    (s) => s.framesDecoded > first.framesDecoded && s.audioBytes > first.audioBytes,
    { timeout: CONNECT_TIMEOUT_MS, message: `${what} to keep rising from ${JSON.stringify(first)}` },
  );
  const camera = tid('remote-tile', { 'data-peer-id': id, 'data-kind': 'camera' });
  await poll(
    () => viewer.page.$$eval(`${camera} video`, (vs) => vs.map((v) => [v.videoWidth, v.videoHeight])),
    (sizes) => sizes.length === 1 && sizes[0][0] > 0 && sizes[0][1] > 0,
    { timeout: CONNECT_TIMEOUT_MS, message: `${viewer.name}'s tile of ${other.name}'s camera to show a picture` },
  );
}

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
