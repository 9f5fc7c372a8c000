import { expect, type Locator, type Page } from '@playwright/test';
import { CONNECT_TIMEOUT_MS, type PeerPage } from './peer-page';

/** What one page receives from one peer, read from RTCPeerConnection.getStats(). */
export interface Inbound {
  videoStreams: number;
  audioStreams: number;
  framesDecoded: number;
  audioBytes: number;
  videoBytes: number;
}

/** Joins with camera+mic ('video'), mic only ('voice') or no media ('chat'). */
export async function joinWith(peer: PeerPage, room: string, mode: 'video' | 'voice' | 'chat'): Promise<void> {
  await peer.page.getByTestId(`mode-${mode}`).check();
  await peer.join(room);
  if (mode !== 'chat') {
    await expect(peer.page.getByTestId('local-tile')).toBeVisible({ timeout: CONNECT_TIMEOUT_MS });
  }
}

/** The peer id `viewer` knows `other` by (from its participant list). */
export async function peerId(viewer: PeerPage, other: PeerPage): Promise<string> {
  const id = await viewer.participant(other.name).getAttribute('data-peer-id');
  expect(id, `${viewer.name} lists ${other.name}`).toBeTruthy();
  return id as string;
}

/** Inbound RTP totals on `viewer`'s connection to `other` (via window.peerlink.peers). */
export async function inbound(viewer: PeerPage, other: PeerPage): Promise<Inbound> {
  const id = await peerId(viewer, other);
  return viewer.page.evaluate(async (id) => {
    const pc = (window as any).peerlink?.peers?.get(id) as RTCPeerConnection | undefined;
    if (!pc) throw new Error(`no RTCPeerConnection for ${id}`);
    const out = { videoStreams: 0, audioStreams: 0, framesDecoded: 0, audioBytes: 0, videoBytes: 0 };
    (await pc.getStats()).forEach((s: any) => {
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

/** `viewer`'s tiles showing `other`'s streams; kind 'camera' or 'screen'. */
export async function tiles(viewer: PeerPage, other: PeerPage, kind?: 'camera' | 'screen'): Promise<Locator> {
  const id = await peerId(viewer, other);
  const kindSel = kind ? `[data-kind="${kind}"]` : '';
  return viewer.page.locator(`[data-testid="remote-tile"][data-peer-id="${id}"]${kindSel}`);
}

/** videoWidth × videoHeight of the first video inside `locator`. */
export async function videoSize(locator: Locator): Promise<[number, number]> {
  return locator
    .locator('video')
    .first()
    .evaluate((v: HTMLVideoElement) => [v.videoWidth, v.videoHeight] as [number, number]);
}

/** Waits until `viewer` decodes video and receives audio from `other`, and both keep rising. */
export async function expectMediaFlowing(viewer: PeerPage, other: PeerPage, video = true): Promise<void> {
  const first = await pollInbound(viewer, other, (s) => s.audioBytes > 0 && (!video || s.framesDecoded > 0));
  await pollInbound(
    viewer,
    other,
    (s) => s.audioBytes > first.audioBytes && (!video || s.framesDecoded > first.framesDecoded),
  );
  if (video) {
    const camera = await tiles(viewer, other, 'camera');
    await expect(camera).toHaveCount(1);
    await expect.poll(async () => (await videoSize(camera))[0], { timeout: CONNECT_TIMEOUT_MS }).toBeGreaterThan(0);
  }
}

async function pollInbound(viewer: PeerPage, other: PeerPage, ok: (s: Inbound) => boolean): Promise<Inbound> {
  let last: Inbound | undefined;
  await expect
    .poll(
      async () => {
        last = await inbound(viewer, other);
        return ok(last);
      },
      { timeout: CONNECT_TIMEOUT_MS, message: `${viewer.name} receiving from ${other.name}` },
    )
    .toBe(true);
  return last as Inbound;
}

/** The size the sharer's own screen track was captured at. */
export async function localScreenSize(page: Page): Promise<[number, number]> {
  return page.getByTestId('local-screen').evaluate((v: HTMLVideoElement) => {
    const track = (v.srcObject as MediaStream).getVideoTracks()[0];
    const s = track.getSettings();
    return [s.width ?? 0, s.height ?? 0] as [number, number];
  });
}
