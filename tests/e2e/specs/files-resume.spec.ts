import path from 'node:path';
import { mkdirSync } from 'node:fs';
import { expect, test } from '../lib/fixtures';
import { acceptUntilStored, filePair, generateFile, saveDownload, sha256File, storageReport, storedIncoming, transferRow } from '../lib/files';
import { joinWith } from '../lib/call';

const MiB = 1024 * 1024;
/** Large enough to be mid-way when the receiver reloads (~20 MiB/s here). */
const SIZE = 128 * MiB;

test.describe('file sharing across a reload', () => {
  test('the receiver reloads mid-transfer, rejoins, and the file completes from where it was', async ({ openPeers, room }, testInfo) => {
    test.setTimeout(240_000);
    const dir = testInfo.outputPath('resume');
    const source = path.join(dir, 'resume.bin');
    const expected = generateFile(source, SIZE, 21);

    const [ada, bo] = await filePair(openPeers, room);

    // Some segments are safely stored (not the whole file yet): reload then.
    const incoming = await acceptUntilStored(ada, bo, source, 16 * MiB);
    await expect(incoming).not.toHaveAttribute('data-state', 'verified');
    await bo.page.reload();
    await expect(bo.status).toHaveAttribute('data-state', 'idle');
    await expect(bo.status).not.toHaveText(/^\s*Loading/);
    const before = await storedIncoming(bo).then((s) => s.bytes);
    expect(before).toBeGreaterThanOrEqual(16 * MiB);
    expect(before).toBeLessThan(SIZE);
    // Before joining, the page says what is waiting (listing it locks the folder:
    // the join below must get it from there, or nothing would be restored).
    const waiting = bo.page.getByTestId('stored-download');
    await expect(waiting).toHaveCount(1);
    await expect(waiting).toContainText('resume.bin');
    await expect(waiting).toContainText(`of ${(SIZE / 1e6).toFixed(1)} MB kept`);
    expect(Number(await waiting.getAttribute('data-bytes'))).toBeGreaterThanOrEqual(16 * MiB);

    // Rejoin (a new peer id): the page finds its partial file and the sender's
    // transfer continues on the new link.
    await joinWith(bo, room, 'chat');
    await expect(bo.page.getByTestId('stored-downloads')).toBeHidden();
    await bo.expectConnectedTo([ada]);
    const restored = transferRow(bo, 'resume.bin', 'incoming');
    await expect(restored).toHaveCount(1, { timeout: 20_000 });
    await expect(restored).toHaveAttribute('data-state', 'verified', { timeout: 180_000 });
    await expect(restored.getByTestId('transfer-result')).toContainText('verified');
    const outgoing = transferRow(ada, 'resume.bin', 'outgoing');
    await expect(outgoing).toHaveAttribute('data-state', 'verified');

    // It continued from the stored bytes, not from zero, and both sides agree on
    // where. (A segment write that the browser committed just after the page went
    // may add to what was measured above, never take away.)
    const resumedFrom = Number(await restored.getAttribute('data-resumed-from'));
    expect(resumedFrom).toBeGreaterThanOrEqual(before);
    expect(resumedFrom).toBeLessThan(SIZE);
    expect(Number(await outgoing.getAttribute('data-resumed-from'))).toBe(resumedFrom);

    const saved = await saveDownload(bo, restored, dir);
    expect(await sha256File(saved)).toBe(expected);

    // Finished: nothing is left to resume, and the next load deletes the segments
    // (this page's download still read them).
    await expect.poll(() => storedIncoming(bo).then((s) => s.offers)).toBe(0);
    await bo.page.reload();
    await joinWith(bo, room, 'chat');
    await expect.poll(() => storedIncoming(bo)).toEqual({ bytes: 0, offers: 0, folders: 0 });
    await expect(transferRow(bo, 'resume.bin', 'incoming')).toHaveCount(0);
  });

  test('the receiver leaves mid-download: the join form lists it, and joining again continues it', async ({ openPeers, room }, testInfo) => {
    test.setTimeout(180_000);
    const dir = testInfo.outputPath('leave');
    const source = path.join(dir, 'later.bin');
    const expected = generateFile(source, 96 * MiB, 23);
    const [ada, bo] = await filePair(openPeers, room);
    await acceptUntilStored(ada, bo, source, 16 * MiB);
    await bo.page.getByTestId('leave-button').click();

    // Its writer hands the copy on when done, and the join form lists it.
    const waiting = bo.page.getByTestId('stored-download');
    await expect(waiting).toHaveCount(1, { timeout: 20_000 });
    await expect(waiting).toContainText('later.bin');
    const kept = Number(await waiting.getAttribute('data-bytes'));
    expect(kept).toBeGreaterThanOrEqual(16 * MiB);

    await joinWith(bo, room, 'chat');
    await bo.expectConnectedTo([ada]);
    const resumed = transferRow(bo, 'later.bin', 'incoming');
    await expect(resumed).toHaveAttribute('data-state', 'verified', { timeout: 120_000 });
    expect(Number(await resumed.getAttribute('data-resumed-from'))).toBeGreaterThanOrEqual(kept);
    expect(await sha256File(await saveDownload(bo, resumed, dir))).toBe(expected);
  });

  test('a partial download listed before joining can be discarded: the offer then starts over', async ({ openPeers, room }, testInfo) => {
    test.setTimeout(120_000);
    const dir = testInfo.outputPath('discard');
    const source = path.join(dir, 'drop-me.bin');
    generateFile(source, 64 * MiB, 22);
    const [ada, bo] = await filePair(openPeers, room);
    await acceptUntilStored(ada, bo, source, 8 * MiB);
    await bo.page.reload();
    await expect(bo.status).toHaveAttribute('data-state', 'idle');

    const waiting = bo.page.getByTestId('stored-download');
    await expect(waiting).toHaveCount(1);
    await waiting.getByRole('button', { name: 'Discard drop-me.bin' }).click();
    await expect(waiting).toHaveCount(0);
    await expect(bo.page.getByTestId('stored-downloads')).toBeHidden();
    await expect.poll(() => storedIncoming(bo)).toEqual({ bytes: 0, offers: 0, folders: 0 });

    // Joined again, the same file sent again comes whole: nothing was kept to
    // continue from (kept, it would continue: the sender-reload tests below).
    await joinWith(bo, room, 'chat');
    await bo.expectConnectedTo([ada]);
    await ada.page.getByTestId('file-input').setInputFiles(source);
    const again = transferRow(bo, 'drop-me.bin', 'incoming');
    await expect(again).toHaveAttribute('data-state', 'offered', { timeout: 20_000 });
    await again.getByTestId('transfer-accept').click();
    await expect(again).toHaveAttribute('data-state', 'verified', { timeout: 60_000 });
    await expect(again).not.toHaveAttribute('data-resumed-from');
    await expect(again).not.toHaveAttribute('data-partial-bytes');
  });

  /**
   * The sender's page reloads mid-transfer (its `File` is gone with it), the sender
   * rejoins and picks a file of the same name and size again. The receiver still holds
   * the first segments: with the file that was being sent, only the rest comes; with
   * a different file, the held bytes are dropped and all of it comes.
   */
  for (const sameFile of [true, false]) {
    test(`the sender reloads mid-transfer and offers ${sameFile ? 'the same file' : 'another file of that name and size'} again`, async ({ openPeers, room }, testInfo) => {
      test.setTimeout(240_000);
      const dir = testInfo.outputPath('sender-reload');
      const source = path.join(dir, 'first', 'again.bin');
      const firstHash = generateFile(source, SIZE, 31);
      const [ada, bo] = await filePair(openPeers, room);

      const first = await acceptUntilStored(ada, bo, source, 16 * MiB);
      await ada.page.reload();
      // The receiver's row says the sender left and what becomes of the bytes.
      await expect(first).toHaveAttribute('data-state', 'failed', { timeout: 20_000 });
      await expect(first.getByTestId('transfer-result')).toContainText('Ada left before the file was complete');
      // (A segment write under way may still land: what is held can only grow.)
      const held = await storedIncoming(bo).then((s) => s.bytes);
      expect(held).toBeGreaterThanOrEqual(16 * MiB);
      expect(held).toBeLessThan(SIZE);

      await expect(ada.status).not.toHaveText(/^\s*Loading/);
      await joinWith(ada, room, 'chat');
      await ada.expectConnectedTo([bo]);
      // The reloaded sender's page remembers what it was sending, and what to do.
      const interrupted = transferRow(ada, 'again.bin', 'outgoing');
      await expect(interrupted).toHaveAttribute('data-state', 'failed');
      await expect(interrupted.getByTestId('transfer-result')).toContainText('send it to Bo again to continue');
      const second = sameFile ? source : path.join(dir, 'second', 'again.bin');
      const expected = sameFile ? firstHash : generateFile(second, SIZE, 32);
      await ada.page.getByTestId('file-input').setInputFiles(second);
      // Sent again: the new row takes the old one's place.
      await expect(transferRow(ada, 'again.bin', 'outgoing')).toHaveCount(1);
      await expect(transferRow(ada, 'again.bin', 'outgoing')).not.toHaveAttribute('data-state', 'failed');

      const offer = bo.page.locator('[data-testid="transfer"][data-direction="incoming"][data-path="again.bin"][data-state="offered"]');
      await expect(offer).toHaveCount(1, { timeout: 20_000 });
      // The receiver finds what it holds and says so before it is accepted.
      await expect(offer).toHaveAttribute('data-partial-bytes', /^\d+$/, { timeout: 20_000 });
      const partial = Number(await offer.getAttribute('data-partial-bytes'));
      expect(partial).toBeGreaterThanOrEqual(held);
      expect(partial).toBeLessThan(SIZE);
      await expect(offer.getByTestId('transfer-result')).toContainText('already here');
      const key = await offer.getAttribute('data-key');
      await offer.getByTestId('transfer-accept').click();

      const row = bo.page.locator(`[data-testid="transfer"][data-key="${key}"]`);
      await expect(row).toHaveAttribute('data-state', 'verified', { timeout: 180_000 });
      const outgoing = transferRow(ada, 'again.bin', 'outgoing');
      await expect(outgoing).toHaveAttribute('data-state', 'verified');
      // Same file: the sender checked the held bytes and sent only the rest. Another
      // file: the sender said so and everything came again.
      const from = sameFile ? partial : 0;
      expect(Number(await row.getAttribute('data-resumed-from'))).toBe(from);
      expect(Number(await outgoing.getAttribute('data-resumed-from'))).toBe(from);
      expect(await sha256File(await saveDownload(bo, row, dir))).toBe(expected);
    });
  }

  test('the sender reloads while sending a folder and sends it again: every file continues from what arrived', async ({ openPeers, room }, testInfo) => {
    test.setTimeout(240_000);
    const dir = testInfo.outputPath('folder-again');
    const names = ['album/one.bin', 'album/two.bin', 'album/deep/three.bin'];
    const hashes = names.map((rel, i) => generateFile(path.join(dir, rel), 48 * MiB, 70 + i));
    const [ada, bo] = await filePair(openPeers, room);

    await ada.page.getByTestId('folder-input').setInputFiles(path.join(dir, 'album'));
    await expect(bo.page.getByTestId('transfer-accept-all')).toHaveText('Accept all 3 files', { timeout: 20_000 });
    await bo.page.getByTestId('transfer-accept-all').click();
    // The three send at once: reload once each has a segment stored.
    const segments = () => bo.page.evaluate(async () => {
      const counts: number[] = [];
      try {
        const root = await (await navigator.storage.getDirectory()).getDirectoryHandle('peerlink-incoming');
        for await (const dir of (root as any).values()) {
          if (dir.kind !== 'directory') continue;
          let n = 0;
          for await (const entry of dir.values()) if (/^seg-\d{8}$/.test(entry.name)) n += 1;
          counts.push(n);
        }
      } catch {
        return 0; // nothing stored yet
      }
      return counts.length === 3 ? Math.min(...counts) : 0;
    });
    await expect.poll(segments, { timeout: 60_000, intervals: [50] }).toBeGreaterThanOrEqual(1);
    await ada.page.reload();
    for (const rel of names) {
      await expect(transferRow(bo, rel, 'incoming')).toHaveAttribute('data-state', 'failed', { timeout: 20_000 });
    }

    await joinWith(ada, room, 'chat');
    await ada.expectConnectedTo([bo]);
    await ada.page.getByTestId('folder-input').setInputFiles(path.join(dir, 'album'));
    // Offered at once, all three are matched with what arrived of them.
    const offers = names.map((rel) => bo.page.locator(`[data-testid="transfer"][data-direction="incoming"][data-path="${rel}"][data-state="offered"]`));
    const partial: number[] = [];
    for (const offer of offers) {
      try {
        await expect(offer).toHaveAttribute('data-partial-bytes', /^\d+$/, { timeout: 20_000 });
      } catch (e) {
        // Which copies were there, and who held them (this found the race of a
        // copy still locked by its old transfer's writer).
        await testInfo.attach('storage of Bo', { body: await storageReport(bo), contentType: 'application/json' });
        throw e;
      }
      partial.push(Number(await offer.getAttribute('data-partial-bytes')));
    }
    expect(Math.min(...partial)).toBeGreaterThanOrEqual(8 * MiB);
    const keys = await Promise.all(offers.map((o) => o.getAttribute('data-key')));
    await bo.page.getByTestId('transfer-accept-all').click();
    const saveDir = testInfo.outputPath('saved');
    mkdirSync(saveDir, { recursive: true });
    for (const [i, key] of keys.entries()) {
      const row = bo.page.locator(`[data-testid="transfer"][data-key="${key}"]`);
      await expect(row).toHaveAttribute('data-state', 'verified', { timeout: 120_000 });
      expect(Number(await row.getAttribute('data-resumed-from'))).toBe(partial[i]);
    }
    for (const [i, key] of keys.entries()) {
      const row = bo.page.locator(`[data-testid="transfer"][data-key="${key}"]`);
      expect(await sha256File(await saveDownload(bo, row, saveDir))).toBe(hashes[i]);
    }
  });
});
