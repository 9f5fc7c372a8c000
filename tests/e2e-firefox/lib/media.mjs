// A call's check that the Firefox suites share: one page decodes the other's
// camera and receives its microphone, by the page's RTCPeerConnection.getStats.
import assert from 'node:assert/strict';
import { CONNECT_TIMEOUT_MS, poll, tid } from './peer.mjs';

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
export async function expectMediaFlowing(viewer, other, id) {
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
