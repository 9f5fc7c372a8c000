import { expect, test } from '../lib/fixtures';
import path from 'node:path';
import { joinWith, tiles } from '../lib/call';
import { generateFile, transferRow } from '../lib/files';

test('a peer whose tab closes disappears everywhere and the others carry on', async ({ openPeers, room }) => {
  const [ada, bo, cy] = await openPeers('Ada', 'Bo', 'Cy');
  for (const p of [ada, bo, cy]) await joinWith(p, room, 'video');
  await ada.expectConnectedTo([bo, cy]);
  await bo.expectConnectedTo([ada, cy]);
  await expect(await tiles(ada, cy, 'camera')).toHaveCount(1, { timeout: 20_000 });

  const cyIdOnAda = await ada.participant('Cy').getAttribute('data-peer-id');
  await cy.page.close();

  for (const viewer of [ada, bo]) {
    await expect(viewer.participant('Cy')).toHaveCount(0, { timeout: 20_000 });
    await expect(viewer.participants).toHaveCount(1);
  }
  await expect(ada.page.locator(`[data-testid="remote-tile"][data-peer-id="${cyIdOnAda}"]`)).toHaveCount(0);
  await ada.sendChat('just us now');
  await bo.expectMessagesFrom('Ada', ['just us now']);
  await expect(await tiles(bo, ada, 'camera')).toHaveCount(1);
});

test('the Leave button leaves the room; the others see it and can rejoin with them', async ({ openPeers, room }) => {
  const [ada, bo] = await openPeers('Ada', 'Bo');
  await joinWith(ada, room, 'chat');
  await joinWith(bo, room, 'chat');
  await bo.expectConnectedTo([ada]);

  await ada.page.getByTestId('leave-button').click();
  await expect(ada.status).toHaveAttribute('data-state', 'idle');
  await expect(bo.participant('Ada')).toHaveCount(0, { timeout: 20_000 });

  await ada.join(room);
  await bo.expectConnectedTo([ada]);
  await ada.expectConnectedTo([bo]);
  await bo.sendChat('welcome back');
  await ada.expectMessagesFrom('Bo', ['welcome back']);
});

test('leaving resets the call controls and ends open transfers; rejoining without media starts clean', async ({ openPeers, room }, testInfo) => {
  const [ada, bo] = await openPeers('Ada', 'Bo');
  await joinWith(ada, room, 'video');
  await joinWith(bo, room, 'chat');
  await ada.expectConnectedTo([bo]);
  const mic = ada.page.getByTestId('toggle-mic');
  const camera = ada.page.getByTestId('toggle-camera');
  await mic.click();
  await expect(mic).toHaveAttribute('data-pressed', 'true');

  const file = path.join(testInfo.outputPath('leave'), 'pending.bin');
  generateFile(file, 1000, 9);
  await bo.page.getByTestId('file-input').setInputFiles(file);
  const offered = transferRow(ada, 'pending.bin', 'incoming');
  await expect(offered).toHaveAttribute('data-state', 'offered', { timeout: 20_000 });

  await ada.page.getByTestId('leave-button').click();
  await expect(ada.status).toHaveAttribute('data-state', 'idle');
  // The offer died with the room: nothing left to click on it but removing it.
  await expect(offered).not.toHaveAttribute('data-state', 'offered');
  // (The room panel is hidden now: look for the buttons in the DOM, not the accessibility tree.)
  await expect(offered.locator('button')).toHaveText(['Remove']);

  await joinWith(ada, room, 'chat');
  await ada.expectConnectedTo([bo]);
  await expect(ada.page.getByTestId('local-tile')).toBeHidden();
  await expect(mic).toBeDisabled();
  await expect(mic).toHaveText('Mute');
  await expect(mic).toHaveAttribute('data-pressed', 'false');
  await expect(camera).toBeDisabled();
});
