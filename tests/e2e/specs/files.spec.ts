import path from 'node:path';
import { mkdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { expect, test } from '../lib/fixtures';
import {
  acceptAndHash, dropPaths, filePair, generateFile, generateFiles, hashInPage, saveDownload, sendFolderAcceptAll, sha256File,
  storedIncoming, transferRow,
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
    const files = generateFiles(dir, [
      ['album/a.bin', 300_000, 1],
      ['album/sub/b.bin', 1_000_000, 2],
      ['album/sub/deeper/c.bin', 17, 3],
      ['album/empty.bin', 0, 4],
    ]);
    const [ada, bo] = await filePair(openPeers, room);

    await ada.page.getByTestId('folder-input').setInputFiles(path.join(dir, 'album'));
    const saveDir = testInfo.outputPath('saved');
    mkdirSync(saveDir, { recursive: true });
    for (const [rel, hash] of Object.entries(files)) {
      expect(await acceptAndHash(bo, rel, saveDir)).toBe(hash);
    }
    await expect(bo.page.locator('[data-testid="transfer"][data-direction="incoming"]')).toHaveCount(4);
  });

  test('a folder of many files is accepted with one click and every file arrives', async ({ openPeers, room }, testInfo) => {
    const dir = testInfo.outputPath('many');
    const files: Record<string, string> = {};
    // More files than send at once (4), each big enough to take several rounds.
    for (let i = 0; i < 12; i += 1) {
      const rel = `shots/img${i}.bin`;
      files[rel] = generateFile(path.join(dir, rel), 3 * MiB + i * 1000, 200 + i);
    }
    const [ada, bo] = await filePair(openPeers, room);
    const acceptAll = bo.page.getByTestId('transfer-accept-all');
    await expect(acceptAll).toBeHidden();

    await ada.page.getByTestId('folder-input').setInputFiles(path.join(dir, 'shots'));
    await expect(acceptAll).toHaveText('Accept all 12 files', { timeout: 20_000 });
    await acceptAll.click();
    await expect(acceptAll).toBeHidden();
    for (const [rel, hash] of Object.entries(files)) {
      const row = transferRow(bo, rel, 'incoming');
      await expect(row).toHaveAttribute('data-state', 'verified', { timeout: 60_000 });
      expect(await hashInPage(row)).toBe(hash);
    }
  });

  test('"Download all (.zip)" saves every received file in one archive under its folder path', async ({ openPeers, room }, testInfo) => {
    test.setTimeout(120_000);
    const dir = testInfo.outputPath('zip');
    const files = generateFiles(dir, [
      ['trip/notes.txt', 300_000, 31],
      // Over a segment: its Blob reads the receiver's OPFS copy.
      ['trip/photos/raw.bin', 20 * MiB + 5, 32],
      ['trip/photos/été ☀.bin', 4_321, 33],
      ['trip/empty.bin', 0, 34],
    ]);
    const [ada, bo] = await filePair(openPeers, room);
    const zipAll = bo.page.getByTestId('zip-all');
    await expect(zipAll).toBeHidden();
    await sendFolderAcceptAll(ada, bo, path.join(dir, 'trip'), Object.keys(files));
    await expect(zipAll).toHaveText('Download all 4 files (.zip)');

    const download = bo.page.waitForEvent('download');
    await zipAll.click();
    const archive = path.join(dir, 'saved.zip');
    await (await download).saveAs(archive);
    expect((await download).suggestedFilename()).toBe('peerlink-files.zip');
    await expect(zipAll).toHaveText('Download all 4 files (.zip)');

    // Info-ZIP's unzip, not our code, reads it: every CRC checks out, the names
    // are the folder paths, and each member's bytes hash to the source's.
    execFileSync('unzip', ['-tq', archive]);
    const names = execFileSync('unzip', ['-Z1', archive], { encoding: 'utf8' }).trim().split('\n').sort();
    expect(names).toEqual(Object.keys(files).sort());
    for (const [rel, hash] of Object.entries(files)) {
      // unzip reads a member name as a wildcard pattern: escape its brackets and stars.
      const member = execFileSync('unzip', ['-p', archive, rel.replace(/[[\]*?]/g, '[$&]')], { maxBuffer: 64 * MiB });
      expect(createHash('sha256').update(member).digest('hex'), rel).toBe(hash);
    }
  });

  test('"Save all to a folder" writes every received file under its folder path', async ({ openPeers, room }, testInfo) => {
    const dir = testInfo.outputPath('save-all');
    const files = generateFiles(dir, [
      ['trip/a.bin', 300_000, 51],
      ['trip/day2/b.bin', 9 * MiB, 52], // over one segment: read back from OPFS
      ['trip/day2/night/c.txt', 17, 53],
    ]);
    const [ada, bo] = await filePair(openPeers, room);
    const saveAll = bo.page.getByTestId('save-all');
    await expect(saveAll).toBeHidden();
    await sendFolderAcceptAll(ada, bo, path.join(dir, 'trip'), Object.keys(files));
    await expect(saveAll).toHaveText('Save all 3 files to a folder…');

    // The OS folder dialog cannot be driven headless: the picker hands the page a
    // real folder of its origin's private file system instead, which the test reads.
    await bo.page.evaluate(() => {
      (window as unknown as { showDirectoryPicker: () => Promise<FileSystemDirectoryHandle> }).showDirectoryPicker =
        async () => (await navigator.storage.getDirectory()).getDirectoryHandle('picked', { create: true });
    });
    const read = (paths: string[]) => bo.page.evaluate(async (paths) => {
      const out: Record<string, string | null> = {};
      const picked = await (await navigator.storage.getDirectory()).getDirectoryHandle('picked');
      for (const p of paths) {
        try {
          let d = picked;
          const parts = p.split('/');
          for (const part of parts.slice(0, -1)) d = await d.getDirectoryHandle(part);
          const file = await (await d.getFileHandle(parts[parts.length - 1])).getFile();
          const digest = await crypto.subtle.digest('SHA-256', await file.arrayBuffer());
          out[p] = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
        } catch {
          out[p] = null;
        }
      }
      return out;
    }, paths);

    await saveAll.click();
    await expect(bo.page.getByTestId('chat-log')).toContainText('Saved 3 of 3 files to the folder “picked”');
    expect(await read(Object.keys(files))).toEqual(files);
    // Saving again keeps what is there: the copies get " (1)".
    await saveAll.click();
    await expect(bo.page.getByTestId('chat-log').getByText('Saved 3 of 3 files')).toHaveCount(2);
    expect(await read(['trip/a (1).bin', 'trip/day2/night/c (1).txt'])).toEqual({
      'trip/a (1).bin': files['trip/a.bin'],
      'trip/day2/night/c (1).txt': files['trip/day2/night/c.txt'],
    });
  });

  test('removing a finished row frees the received file\'s stored copy at once', async ({ openPeers, room }, testInfo) => {
    const file = path.join(testInfo.outputPath('remove'), 'kept.bin');
    const hash = generateFile(file, 12 * MiB, 61);
    const [ada, bo] = await filePair(openPeers, room);
    await ada.page.getByTestId('file-input').setInputFiles(file);
    const saveDir = testInfo.outputPath('saved');
    mkdirSync(saveDir, { recursive: true });
    expect(await acceptAndHash(bo, 'kept.bin', saveDir)).toBe(hash);
    // Over one segment: its only copy is in storage, read by the Save link.
    await expect.poll(() => storedIncoming(bo)).toEqual({ bytes: 12 * MiB, offers: 0, folders: 1 });

    const row = transferRow(bo, 'kept.bin', 'incoming');
    await row.getByRole('button', { name: 'Remove kept.bin' }).click();
    await expect(row).toHaveCount(0);
    await expect.poll(() => storedIncoming(bo)).toEqual({ bytes: 0, offers: 0, folders: 0 });
    // The sender's finished row goes the same way.
    const sent = transferRow(ada, 'kept.bin', 'outgoing');
    await expect(sent).toHaveAttribute('data-state', 'verified');
    await sent.getByTestId('transfer-remove').click();
    await expect(sent).toHaveCount(0);
  });

  test('a dropped folder keeps its nested structure, next to a dropped file', async ({ openPeers, room }, testInfo) => {
    const dir = testInfo.outputPath('dropped');
    const files = generateFiles(dir, [
      ['photos/a.bin', 200_000, 11],
      ['photos/2024/b.bin', 700_000, 12],
      ['photos/2024/deep/c.bin', 33, 13],
      ['loose.bin', 5_000, 14],
    ]);
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

    // Nothing more can arrive: the row says why, offers nothing to click but
    // removing it, and no longer shows a speed or a time left.
    await expect(incoming).toHaveAttribute('data-state', 'failed', { timeout: 20_000 });
    await expect(incoming.getByTestId('transfer-result')).toHaveText(
      'Ada left before the file was complete — if they send it again, it continues from what was saved',
    );
    await expect(incoming.getByRole('button')).toHaveText(['Remove']);
    await expect(incoming.getByTestId('transfer-rate')).toHaveText(/^[\d.]+ [KMG]?B of 134\.2 MB$/);
  });
});

test('a transfer waiting for a receiver that left can be cancelled', async ({ openPeers, room }, testInfo) => {
  const file = path.join(testInfo.outputPath('gone'), 'gone.bin');
  generateFile(file, 128 * MiB, 81);
  const [ada, bo] = await filePair(openPeers, room);
  await ada.page.getByTestId('file-input').setInputFiles(file);
  const incoming = transferRow(bo, 'gone.bin', 'incoming');
  await expect(incoming).toHaveAttribute('data-state', 'offered', { timeout: 20_000 });
  await incoming.getByTestId('transfer-accept').click();
  const outgoing = transferRow(ada, 'gone.bin', 'outgoing');
  await expect(outgoing.getByTestId('transfer-rate')).toContainText(' left', { timeout: 20_000 });
  await bo.page.close();

  // Kept in case Bo's page comes back, and Ada can give up on it.
  await expect(outgoing.getByTestId('transfer-result')).toHaveText('Bo left — waiting in case their page comes back', { timeout: 20_000 });
  await outgoing.getByRole('button', { name: 'Cancel gone.bin' }).click();
  await expect(outgoing).toHaveAttribute('data-state', 'cancelled');
  await expect(ada.page.getByTestId('chat-log')).not.toContainText('Could not cancel');
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
