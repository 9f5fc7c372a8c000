import path from 'node:path';
import { mkdirSync } from 'node:fs';
import { expect, test } from '../lib/fixtures';
import {
  acceptAndHash, dropPaths, filePair, generateFile, saveDownload, sha256File, storedIncoming, transferRow,
} from '../lib/files';
import { joinWith } from '../lib/call';

const MiB = 1024 * 1024;
/** Big enough that chunking, flow control and Blob segments all matter. */
const BIG = 200 * MiB;

test.describe('file sharing', () => {
  test('a 200 MiB file arrives byte-exact, verified by the app and by the test', async ({ openPeers, room }, testInfo) => {
    test.setTimeout(300_000);
    const dir = testInfo.outputPath('files');
    const source = path.join(dir, 'big.bin');
    const expected = generateFile(source, BIG, 7);

    const [ada, bo] = await filePair(openPeers, room);

    await ada.page.getByTestId('file-input').setInputFiles(source);
    const incoming = transferRow(bo, 'big.bin', 'incoming');
    await expect(incoming).toHaveAttribute('data-state', 'offered', { timeout: 20_000 });
    await expect(incoming).toContainText('from Ada');
    await incoming.getByTestId('transfer-accept').click();
    await expect(incoming).toHaveAttribute('data-state', 'verified', { timeout: 240_000 });
    await expect(transferRow(ada, 'big.bin', 'outgoing')).toHaveAttribute('data-state', 'verified');

    const saved = await saveDownload(bo, incoming, dir);
    expect(await sha256File(saved)).toBe(expected);
    // The received file lives in storage exactly once (the saved Blob reads it from
    // there, no second copy in memory); complete, it can no longer be resumed, and
    // the next load deletes it.
    await expect.poll(() => storedIncoming(bo)).toEqual({ bytes: BIG, offers: 0, folders: 1 });
    await bo.page.reload();
    await expect(bo.status).not.toHaveText(/^\s*Loading/);
    await joinWith(bo, room, 'chat');
    await expect.poll(() => storedIncoming(bo)).toEqual({ bytes: 0, offers: 0, folders: 0 });
  });

  test('a folder keeps its nested structure', async ({ openPeers, room }, testInfo) => {
    const dir = testInfo.outputPath('tree');
    const files: Record<string, string> = {};
    for (const [rel, size, seed] of [
      ['album/a.bin', 300_000, 1],
      ['album/sub/b.bin', 1_000_000, 2],
      ['album/sub/deeper/c.bin', 17, 3],
      ['album/empty.bin', 0, 4],
    ] as const) {
      files[rel] = generateFile(path.join(dir, rel), size, seed);
    }
    const [ada, bo] = await filePair(openPeers, room);

    await ada.page.getByTestId('folder-input').setInputFiles(path.join(dir, 'album'));
    const saveDir = testInfo.outputPath('saved');
    mkdirSync(saveDir, { recursive: true });
    for (const [rel, hash] of Object.entries(files)) {
      expect(await acceptAndHash(bo, rel, saveDir)).toBe(hash);
    }
    await expect(bo.page.locator('[data-testid="transfer"][data-direction="incoming"]')).toHaveCount(4);
  });

  test('a dropped folder keeps its nested structure, next to a dropped file', async ({ openPeers, room }, testInfo) => {
    const dir = testInfo.outputPath('dropped');
    const files: Record<string, string> = {};
    for (const [rel, size, seed] of [
      ['photos/a.bin', 200_000, 11],
      ['photos/2024/b.bin', 700_000, 12],
      ['photos/2024/deep/c.bin', 33, 13],
      ['loose.bin', 5_000, 14],
    ] as const) {
      files[rel] = generateFile(path.join(dir, rel), size, seed);
    }
    // More than one readEntries batch (Chromium returns at most 100 per call).
    const many = 130;
    for (let i = 0; i < many; i += 1) {
      generateFile(path.join(dir, 'photos', 'many', `f${String(i).padStart(3, '0')}.bin`), 10 + i, 100 + i);
    }
    const [ada, bo] = await filePair(openPeers, room);

    await dropPaths(ada, ada.page.getByTestId('drop-zone'), [path.join(dir, 'photos'), path.join(dir, 'loose.bin')]);
    const offered = bo.page.locator('[data-testid="transfer"][data-direction="incoming"]');
    await expect(offered).toHaveCount(4 + many, { timeout: 30_000 });
    // Every file of photos/many/ arrived under its own path.
    for (let i = 0; i < many; i += 1) {
      await expect(transferRow(bo, `photos/many/f${String(i).padStart(3, '0')}.bin`, 'incoming')).toHaveCount(1);
    }
    const saveDir = testInfo.outputPath('saved');
    mkdirSync(saveDir, { recursive: true });
    for (const [rel, hash] of Object.entries(files)) {
      // A file dropped on its own has no folder path: its row's path is its name.
      expect(await acceptAndHash(bo, rel, saveDir)).toBe(hash);
    }
  });

  test('rejecting and cancelling end in a clear state on both sides', async ({ openPeers, room }, testInfo) => {
    const dir = testInfo.outputPath('rc');
    generateFile(path.join(dir, 'no.bin'), 1000, 5);
    generateFile(path.join(dir, 'stop.bin'), 64 * MiB, 6);
    const [ada, bo] = await filePair(openPeers, room);

    await ada.page.getByTestId('file-input').setInputFiles(path.join(dir, 'no.bin'));
    const no = transferRow(bo, 'no.bin', 'incoming');
    await no.getByTestId('transfer-reject').click();
    await expect(no).toHaveAttribute('data-state', 'rejected');
    await expect(transferRow(ada, 'no.bin', 'outgoing')).toHaveAttribute('data-state', 'rejected');

    await ada.page.getByTestId('file-input').setInputFiles(path.join(dir, 'stop.bin'));
    const stop = transferRow(bo, 'stop.bin', 'incoming');
    await stop.getByTestId('transfer-accept').click();
    await expect(stop).toHaveAttribute('data-state', 'transferring');
    await transferRow(ada, 'stop.bin', 'outgoing').getByTestId('transfer-cancel').click();
    await expect(transferRow(ada, 'stop.bin', 'outgoing')).toHaveAttribute('data-state', 'cancelled');
    await expect(stop).toHaveAttribute('data-state', 'cancelled');
    await expect(stop.getByTestId('transfer-result')).toContainText('cancelled by the other side');
    await expect(stop.getByTestId('transfer-download')).toHaveCount(0);
  });
});

test.describe('transfer rows', () => {
  test('say what they wait for, and end clearly when the sender leaves mid-way', async ({ openPeers, room }, testInfo) => {
    const dir = testInfo.outputPath('left');
    generateFile(path.join(dir, 'half.bin'), 128 * MiB, 8);
    const [ada, bo] = await filePair(openPeers, room);

    await ada.page.getByTestId('file-input').setInputFiles(path.join(dir, 'half.bin'));
    const outgoing = transferRow(ada, 'half.bin', 'outgoing');
    const incoming = transferRow(bo, 'half.bin', 'incoming');
    await expect(incoming).toHaveAttribute('data-state', 'offered', { timeout: 20_000 });
    await expect(outgoing.getByTestId('transfer-result')).toHaveText('waiting for Bo to accept');
    await expect(incoming.getByTestId('transfer-result')).toHaveText('waiting for you to accept');

    await incoming.getByTestId('transfer-accept').click();
    await expect(incoming.getByTestId('transfer-rate')).toContainText(' left', { timeout: 20_000 });
    await ada.page.close();

    // Nothing more can arrive: the row says why, offers nothing to click, and no
    // longer shows a speed or a time left.
    await expect(incoming).toHaveAttribute('data-state', 'failed', { timeout: 20_000 });
    await expect(incoming.getByTestId('transfer-result')).toHaveText('Ada left before the file was complete');
    await expect(incoming.getByRole('button')).toHaveCount(0);
    await expect(incoming.getByTestId('transfer-rate')).toHaveText(/^[\d.]+ [KMG]?B of 134\.2 MB$/);
  });
});

test('files can be picked and sent with the keyboard alone', async ({ openPeers, room }, testInfo) => {
  const file = path.join(testInfo.outputPath('keys'), 'typed.bin');
  generateFile(file, 2000, 10);
  const [ada, bo] = await filePair(openPeers, room);
  const page = ada.page;

  // From the "Send to" list, Shift+Tab goes back to the folder picker, then the file picker.
  await page.getByTestId('file-target').focus();
  await page.keyboard.press('Shift+Tab');
  await expect(page.getByTestId('folder-input')).toBeFocused();
  await page.keyboard.press('Shift+Tab');
  await expect(page.getByTestId('file-input')).toBeFocused();
  const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.keyboard.press('Space')]);
  await chooser.setFiles(file);

  const incoming = transferRow(bo, 'typed.bin', 'incoming');
  await expect(incoming).toHaveAttribute('data-state', 'offered', { timeout: 20_000 });
});

test('transfer controls are named after their file, for screen readers', async ({ openPeers, room }, testInfo) => {
  const dir = testInfo.outputPath('named');
  generateFile(path.join(dir, 'one.bin'), 1000, 11);
  generateFile(path.join(dir, 'two.bin'), 1000, 12);
  const [ada, bo] = await filePair(openPeers, room);
  await ada.page.getByTestId('file-input').setInputFiles([path.join(dir, 'one.bin'), path.join(dir, 'two.bin')]);
  const transfers = bo.page.getByTestId('transfers');
  await expect(transfers.getByRole('button', { name: 'Accept two.bin' })).toBeVisible({ timeout: 20_000 });
  await expect(transfers.getByRole('button', { name: 'Reject two.bin' })).toBeVisible();
  await expect(transfers.getByRole('progressbar', { name: 'one.bin: progress' })).toBeVisible();
  await transfers.getByRole('button', { name: 'Accept one.bin' }).click();
  await expect(transfers.getByRole('link', { name: 'Save one.bin' })).toBeVisible({ timeout: 20_000 });
  await expect(transferRow(bo, 'two.bin', 'incoming')).toHaveAttribute('data-state', 'offered');
});

test('a folder of offers is accepted with one click', async ({ openPeers, room }, testInfo) => {
  const dir = testInfo.outputPath('many');
  const names = ['stack/a.bin', 'stack/b.bin', 'stack/deep/c.bin'];
  names.forEach((rel, i) => generateFile(path.join(dir, rel), 5000 + i, 20 + i));
  const [ada, bo] = await filePair(openPeers, room);
  const acceptAll = bo.page.getByTestId('transfer-accept-all');
  await expect(acceptAll).toBeHidden();

  await ada.page.getByTestId('folder-input').setInputFiles(path.join(dir, 'stack'));
  for (const rel of names) {
    await expect(transferRow(bo, rel, 'incoming')).toHaveAttribute('data-state', 'offered', { timeout: 20_000 });
  }
  await expect(acceptAll).toHaveText('Accept all 3 files');
  await acceptAll.click();
  for (const rel of names) {
    await expect(transferRow(bo, rel, 'incoming')).toHaveAttribute('data-state', 'verified', { timeout: 20_000 });
  }
  await expect(acceptAll).toBeHidden();
});

test('a file dropped beside the drop zone is sent too, and the page stays', async ({ openPeers, room }, testInfo) => {
  const file = path.join(testInfo.outputPath('beside'), 'missed.bin');
  generateFile(file, 3000, 30);
  const [ada, bo] = await filePair(openPeers, room);
  const url = ada.page.url();

  // Dropped on the chat, not on the drop zone: it used to do nothing here (and a
  // desktop browser's default is to open the file in place of the page).
  await dropPaths(ada, ada.chatLog, [file]);
  await expect(transferRow(bo, 'missed.bin', 'incoming')).toHaveAttribute('data-state', 'offered', { timeout: 20_000 });
  expect(ada.page.url()).toBe(url);
  await expect(ada.status).toHaveAttribute('data-state', 'joined');
});

test('"Send to" shows everyone again when the chosen peer leaves', async ({ openPeers, room }) => {
  const [ada, bo] = await filePair(openPeers, room);
  const [cy] = await openPeers('Cy');
  await joinWith(cy, room, 'chat');
  await ada.expectConnectedTo([bo, cy]);
  const target = ada.page.getByTestId('file-target');
  await target.selectOption({ label: 'Cy' });
  await expect(target.locator('option:checked')).toHaveText('Cy');

  await cy.page.getByTestId('leave-button').click();
  await expect(ada.participant('Cy')).toHaveCount(0, { timeout: 20_000 });
  // Not a blank choice that silently means "everyone".
  await expect(target.locator('option:checked')).toHaveText('everyone');
  await expect(target.locator('option')).toHaveText(['everyone', 'Bo']);
});

test('an offer is announced in the chat; offers in a row share one line', async ({ openPeers, room }, testInfo) => {
  const dir = testInfo.outputPath('told');
  generateFile(path.join(dir, 'single.bin'), 2000, 40);
  for (const [i, rel] of ['set/a.bin', 'set/b.bin', 'set/c/d.bin'].entries()) generateFile(path.join(dir, rel), 1000, 41 + i);
  const [ada, bo] = await filePair(openPeers, room);
  const lines = bo.chatLog.getByTestId('chat-system');

  await ada.page.getByTestId('file-input').setInputFiles(path.join(dir, 'single.bin'));
  await expect(lines.last()).toHaveText('Ada offers single.bin (2.0 KB): accept it under Files.', { timeout: 20_000 });
  await ada.page.getByTestId('folder-input').setInputFiles(path.join(dir, 'set'));
  await expect(lines.last()).toHaveText('Ada offers 4 files (5.0 KB): accept them under Files.', { timeout: 20_000 });
  await expect(lines).toHaveCount(2); // "Ada is here", then the offers

  // After something else in the chat, the next offer starts a line of its own.
  await ada.sendChat('one more');
  await bo.expectMessagesFrom('Ada', ['one more']);
  await ada.page.getByTestId('file-input').setInputFiles(path.join(dir, 'set', 'a.bin'));
  await expect(lines.last()).toHaveText('Ada offers a.bin (1.0 KB): accept it under Files.', { timeout: 20_000 });
  await expect(lines).toHaveCount(3);
});
