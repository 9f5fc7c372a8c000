import { expect, test } from '../lib/fixtures';
import {
  expectMediaFlowing,
  inbound,
  joinWith,
  localScreenSize,
  tiles,
  videoSize,
} from '../lib/call';
import { CONNECT_TIMEOUT_MS, type PeerPage } from '../lib/peer-page';

/** Every page receives playing camera video and audio from every other page. */
async function expectFullMesh(peers: PeerPage[]): Promise<void> {
  for (const viewer of peers) {
    const others = peers.filter((p) => p !== viewer);
    await viewer.expectConnectedTo(others);
    for (const other of others) await expectMediaFlowing(viewer, other);
  }
}

test('two pages hold a video call: remote video decodes and audio flows both ways', async ({ openPeers, room }) => {
  const peers = await openPeers('Ada', 'Bo');
  for (const p of peers) await joinWith(p, room, 'video');
  await expectFullMesh(peers);
});

test('three pages hold a video call: every page plays the other two', async ({ openPeers, room }) => {
  const peers = await openPeers('Ada', 'Bo', 'Cy');
  for (const p of peers) await joinWith(p, room, 'video');
  await expectFullMesh(peers);
});

test('a voice-only call carries audio and no video', async ({ openPeers, room }) => {
  const [ada, bo] = await openPeers('Ada', 'Bo');
  await joinWith(ada, room, 'voice');
  await joinWith(bo, room, 'voice');
  await ada.expectConnectedTo([bo]);
  await bo.expectConnectedTo([ada]);
  await expectMediaFlowing(ada, bo, false);
  await expectMediaFlowing(bo, ada, false);
  for (const [viewer, other] of [[ada, bo], [bo, ada]] as const) {
    const s = await inbound(viewer, other);
    expect(s.videoStreams, `${viewer.name} receives no video`).toBe(0);
    expect(s.framesDecoded).toBe(0);
    await expect(await tiles(viewer, other, 'camera')).toHaveClass(/voice-only/);
  }
});

test('mute and camera-off are shown on the other side, by button and keyboard', async ({ openPeers, room }) => {
  const [ada, bo] = await openPeers('Ada', 'Bo');
  await joinWith(ada, room, 'video');
  await joinWith(bo, room, 'video');
  await expectMediaFlowing(bo, ada);
  const adaOnBo = bo.participant('Ada');
  const adaTile = await tiles(bo, ada, 'camera');
  await expect(adaOnBo).toHaveAttribute('data-mic', 'on', { timeout: CONNECT_TIMEOUT_MS });
  await expect(adaTile.getByTestId('badge-muted')).toHaveCount(0);

  await ada.page.getByTestId('toggle-mic').click();
  await expect(adaOnBo).toHaveAttribute('data-mic', 'off', { timeout: CONNECT_TIMEOUT_MS });
  await expect(adaTile.getByTestId('badge-muted')).toBeVisible();
  // Muting disables the track: the sender keeps the connection but sends silence.
  expect(
    await ada.page.getByTestId('local-video').evaluate(
      (v: HTMLVideoElement) => (v.srcObject as MediaStream).getAudioTracks()[0].enabled,
    ),
  ).toBe(false);

  await ada.page.locator('body').press('m');
  await expect(adaOnBo).toHaveAttribute('data-mic', 'on', { timeout: CONNECT_TIMEOUT_MS });
  await expect(adaTile.getByTestId('badge-muted')).toHaveCount(0);

  await ada.page.locator('body').press('v');
  await expect(adaOnBo).toHaveAttribute('data-camera', 'off', { timeout: CONNECT_TIMEOUT_MS });
  await expect(adaTile.getByTestId('badge-camera-off')).toBeVisible();
});

test('a screen share appears on every other page at its own size and goes away when stopped', async ({ openPeers, room }) => {
  const [ada, bo, cy] = await openPeers('Ada', 'Bo', 'Cy');
  for (const p of [ada, bo, cy]) await joinWith(p, room, 'video');
  for (const viewer of [bo, cy]) await expectMediaFlowing(viewer, ada);

  await ada.page.getByTestId('toggle-screen').click();
  await expect(ada.page.getByTestId('local-screen')).toBeVisible();
  const [w, h] = await localScreenSize(ada.page);
  expect(w).toBeGreaterThan(0);
  for (const viewer of [bo, cy]) {
    const screen = await tiles(viewer, ada, 'screen');
    await expect(screen).toHaveCount(1, { timeout: CONNECT_TIMEOUT_MS });
    // Camera and screen side by side.
    await expect(await tiles(viewer, ada, 'camera')).toHaveCount(1);
    await expect.poll(() => videoSize(screen), { timeout: CONNECT_TIMEOUT_MS }).toEqual([w, h]);
    const [cw, ch] = await videoSize(await tiles(viewer, ada, 'camera'));
    expect([cw, ch]).not.toEqual([w, h]);
  }

  await ada.page.getByTestId('toggle-screen').click();
  await expect(ada.page.getByTestId('local-screen')).toBeHidden();
  for (const viewer of [bo, cy]) {
    await expect(await tiles(viewer, ada, 'screen')).toHaveCount(0, { timeout: CONNECT_TIMEOUT_MS });
    await expect(await tiles(viewer, ada, 'camera')).toHaveCount(1);
  }
});

test('a remote tile goes full screen and back, by its button, a double-click or the F key', async ({ openPeers, room }) => {
  const [ada, bo] = await openPeers('Ada', 'Bo');
  for (const p of [ada, bo]) await joinWith(p, room, 'video');
  await expectMediaFlowing(bo, ada);
  await ada.page.getByTestId('toggle-screen').click();
  const screen = await tiles(bo, ada, 'screen');
  await expect(screen).toHaveCount(1, { timeout: CONNECT_TIMEOUT_MS });

  const fullscreenTile = () =>
    bo.page.evaluate(() => {
      const el = document.fullscreenElement;
      return el ? `${el.getAttribute('data-testid')}/${el.getAttribute('data-kind')}` : null;
    });
  const button = screen.getByTestId('tile-fullscreen');
  await expect(button).toHaveAccessibleName('Show Ada full screen');
  await button.click();
  await expect.poll(fullscreenTile).toBe('remote-tile/screen');
  await expect(button).toHaveAccessibleName('Exit full screen');
  await expect(button).toHaveAttribute('data-pressed', 'true');
  // The tile fills the window, its video inside it.
  const viewport = bo.page.viewportSize()!;
  const box = (await screen.boundingBox())!;
  expect([Math.round(box.width), Math.round(box.height)]).toEqual([viewport.width, viewport.height]);
  // The camera tile's button still offers its own full screen.
  const camera = await tiles(bo, ada, 'camera');
  await expect(camera.getByTestId('tile-fullscreen')).toHaveAttribute('data-pressed', 'false');

  await button.click();
  await expect.poll(fullscreenTile).toBe(null);
  await expect(button).toHaveAccessibleName('Show Ada full screen');

  await camera.getByTestId('remote-video').dblclick();
  await expect.poll(fullscreenTile).toBe('remote-tile/camera');
  await camera.getByTestId('remote-video').dblclick();
  await expect.poll(fullscreenTile).toBe(null);

  // F shows the shared screen (not the camera, the first tile), and F leaves.
  await bo.page.locator('body').press('f');
  await expect.poll(fullscreenTile).toBe('remote-tile/screen');
  await bo.page.locator('body').press('f');
  await expect.poll(fullscreenTile).toBe(null);

  // A tile that goes away takes full screen with it.
  await screen.getByTestId('tile-fullscreen').click();
  await expect.poll(fullscreenTile).toBe('remote-tile/screen');
  await ada.page.getByTestId('toggle-screen').click();
  await expect(screen).toHaveCount(0, { timeout: CONNECT_TIMEOUT_MS });
  await expect.poll(fullscreenTile).toBe(null);
  await expect(bo.page.getByTestId('media-error')).toBeHidden();
});

test('both sides starting a screen share at the same moment both end up visible', async ({ openPeers, room }) => {
  const [ada, bo] = await openPeers('Ada', 'Bo');
  await joinWith(ada, room, 'video');
  await joinWith(bo, room, 'video');
  await expectMediaFlowing(ada, bo);
  await expectMediaFlowing(bo, ada);

  await Promise.all([ada.page.getByTestId('toggle-screen').click(), bo.page.getByTestId('toggle-screen').click()]);
  for (const [viewer, other] of [[ada, bo], [bo, ada]] as const) {
    const screen = await tiles(viewer, other, 'screen');
    await expect(screen).toHaveCount(1, { timeout: CONNECT_TIMEOUT_MS });
    await expect.poll(async () => (await videoSize(screen))[0], { timeout: CONNECT_TIMEOUT_MS }).toBeGreaterThan(0);
  }
});

test('who is speaking is shown from audio levels, and muting ends it', async ({ openPeers, room }) => {
  const [ada, bo] = await openPeers('Ada', 'Bo');
  await joinWith(ada, room, 'voice');
  await joinWith(bo, room, 'voice');
  await expectMediaFlowing(bo, ada, false);
  // Chromium's fake microphone beeps: its level rises above the threshold.
  const adaOnBo = bo.participant('Ada');
  await expect(adaOnBo).toHaveAttribute('data-speaking', 'yes', { timeout: 20_000 });
  await expect(adaOnBo.getByTestId('peer-stats')).toContainText('RTT');
  await ada.page.getByTestId('toggle-mic').click();
  await expect(adaOnBo).toHaveAttribute('data-mic', 'off');
  // A muted track sends silence: the indicator goes off.
  await expect(adaOnBo).toHaveAttribute('data-speaking', 'no', { timeout: 20_000 });
});

test('a voice-only peer who starts the camera is seen on video, and hidden again after going back to voice', async ({ openPeers, room }) => {
  const [ada, bo] = await openPeers('Ada', 'Bo');
  await joinWith(ada, room, 'video');
  await joinWith(bo, room, 'voice');
  await expectMediaFlowing(ada, bo, false);
  const boTile = await tiles(ada, bo, 'camera');
  await expect(boTile).toHaveClass(/voice-only/);
  await expect(boTile.getByTestId('remote-video')).toBeHidden();

  await bo.page.getByTestId('start-video').click();
  await expect(bo.page.getByTestId('toggle-camera')).toBeEnabled({ timeout: CONNECT_TIMEOUT_MS });
  // Ada sees Bo's camera: the same tile, now showing decoded video.
  await expectMediaFlowing(ada, bo);
  await expect(boTile).not.toHaveClass(/voice-only/, { timeout: CONNECT_TIMEOUT_MS });
  await expect(boTile.getByTestId('remote-video')).toBeVisible();

  await bo.page.getByTestId('start-voice').click();
  await expect(bo.page.getByTestId('toggle-camera')).toBeDisabled({ timeout: CONNECT_TIMEOUT_MS });
  await expect(boTile).toHaveClass(/voice-only/, { timeout: CONNECT_TIMEOUT_MS });
  await expect(boTile.getByTestId('remote-video')).toBeHidden();
});

test('switching between video and voice keeps a muted microphone muted', async ({ openPeers, room }) => {
  const [ada, bo] = await openPeers('Ada', 'Bo');
  await joinWith(ada, room, 'video');
  await joinWith(bo, room, 'video');
  await expectMediaFlowing(bo, ada);
  const adaOnBo = bo.participant('Ada');
  const mic = ada.page.getByTestId('toggle-mic');
  const camera = ada.page.getByTestId('toggle-camera');
  const localAudioEnabled = () =>
    ada.page.getByTestId('local-video').evaluate((v: HTMLVideoElement) => (v.srcObject as MediaStream).getAudioTracks()[0].enabled);
  await mic.click();
  await expect(adaOnBo).toHaveAttribute('data-mic', 'off', { timeout: CONNECT_TIMEOUT_MS });

  await ada.page.getByTestId('start-voice').click();
  await expect(camera).toBeDisabled({ timeout: CONNECT_TIMEOUT_MS });
  await expect(mic).toHaveAttribute('data-pressed', 'true');
  await expect(mic).toHaveText('Unmute');
  await expect.poll(localAudioEnabled).toBe(false);
  await expect(adaOnBo).toHaveAttribute('data-mic', 'off', { timeout: CONNECT_TIMEOUT_MS });

  await ada.page.getByTestId('start-video').click();
  await expect(camera).toBeEnabled({ timeout: CONNECT_TIMEOUT_MS });
  await expect(mic).toHaveAttribute('data-pressed', 'true');
  await expect.poll(localAudioEnabled).toBe(false);
  await expect(adaOnBo).toHaveAttribute('data-mic', 'off', { timeout: CONNECT_TIMEOUT_MS });
});

test('the call buttons read as what they do, with their keyboard shortcut', async ({ openPeers, room }) => {
  const [ada] = await openPeers('Ada');
  await joinWith(ada, room, 'video');
  const mic = ada.page.getByTestId('toggle-mic');
  await expect(mic).toHaveAttribute('aria-keyshortcuts', 'M');
  await mic.click();
  await expect(mic).toHaveText('Unmute');
  // "Unmute", not "Unmute, pressed" (a changing label and a pressed state contradict).
  expect(await mic.ariaSnapshot()).toBe('- button "Unmute"');
  await ada.page.locator('body').press('m');
  await expect(mic).toHaveText('Mute');
  expect(await mic.ariaSnapshot()).toBe('- button "Mute"');
});

test('the device pickers work only for what is being captured', async ({ openPeers, room }) => {
  const [ada] = await openPeers('Ada');
  await joinWith(ada, room, 'chat');
  const cameraSelect = ada.page.getByTestId('camera-select');
  const micSelect = ada.page.getByTestId('mic-select');
  const startVideo = ada.page.getByTestId('start-video');
  const startVoice = ada.page.getByTestId('start-voice');
  await expect(cameraSelect).toBeDisabled();
  await expect(micSelect).toBeDisabled();
  await expect(startVideo).toBeEnabled();
  await expect(startVoice).toBeEnabled();

  await startVoice.click();
  await expect(micSelect).toBeEnabled({ timeout: CONNECT_TIMEOUT_MS });
  await expect(cameraSelect).toBeDisabled();
  // The mode in use cannot be started again; the other one can.
  await expect(startVoice).toBeDisabled();
  await expect(startVideo).toBeEnabled();

  await startVideo.click();
  await expect(cameraSelect).toBeEnabled({ timeout: CONNECT_TIMEOUT_MS });
  await expect(micSelect).toBeEnabled();
  await expect(startVideo).toBeDisabled();
  await expect(startVoice).toBeEnabled();

  await ada.page.getByTestId('leave-button').click();
  await joinWith(ada, room, 'chat');
  await expect(startVideo).toBeEnabled();
  await expect(startVoice).toBeEnabled();
});

test('the connection stats say in words how each peer is reached', async ({ openPeers, room }) => {
  const [ada, bo] = await openPeers('Ada', 'Bo');
  await joinWith(ada, room, 'chat');
  await joinWith(bo, room, 'chat');
  await ada.expectConnectedTo([bo]);
  const stats = ada.participant('Bo').getByTestId('peer-stats');
  // In the test namespace both pages share one network: a host candidate pair.
  await expect(stats).toContainText('direct (local network)', { timeout: CONNECT_TIMEOUT_MS });
  await expect(stats).toContainText(/RTT \d+ ms/);
  await expect(stats).toHaveAttribute('title', /Round-trip time/);
});

test('the self-view shows when one is muted or has the camera off', async ({ openPeers, room }) => {
  const [ada] = await openPeers('Ada');
  await joinWith(ada, room, 'video');
  const self = ada.page.getByTestId('local-tile');
  await expect(self.getByTestId('local-badge-muted')).toHaveCount(0);
  await ada.page.getByTestId('toggle-mic').click();
  await expect(self.getByTestId('local-badge-muted')).toBeVisible();
  await ada.page.locator('body').press('v');
  await expect(self.getByTestId('local-badge-camera-off')).toBeVisible();
  await ada.page.locator('body').press('m');
  await expect(self.getByTestId('local-badge-muted')).toHaveCount(0);
  await expect(self.getByTestId('local-badge-camera-off')).toBeVisible();
});
