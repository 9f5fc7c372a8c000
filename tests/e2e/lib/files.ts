import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, openSync, writeSync, closeSync } from 'node:fs';
import path from 'node:path';
import { expect, type Locator } from '@playwright/test';
import type { PeerPage } from './peer-page';
import { joinWith } from './call';

/**
 * Writes `size` bytes of deterministic pseudo-random data (xorshift, seeded) to
 * `file`, 1 MiB at a time, and returns their SHA-256 computed independently here.
 */
export function generateFile(file: string, size: number, seed = 1): string {
  mkdirSync(path.dirname(file), { recursive: true });
  const hash = createHash('sha256');
  const fd = openSync(file, 'w');
  let x = seed >>> 0 || 1;
  const block = Buffer.alloc(1 << 20);
  let left = size;
  while (left > 0) {
    const n = Math.min(left, block.length);
    for (let i = 0; i < n; i += 4) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      block.writeUInt32LE(x, i);
    }
    const chunk = block.subarray(0, n);
    writeSync(fd, chunk);
    hash.update(chunk);
    left -= n;
  }
  closeSync(fd);
  return hash.digest('hex');
}

/** SHA-256 of a file on disk, streamed. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The transfer rows of `peer` for file path `p` (relative path, or name). */
export function transferRow(peer: PeerPage, p: string, direction: 'incoming' | 'outgoing'): Locator {
  return peer.page.locator(
    `[data-testid="transfer"][data-direction="${direction}"][data-path=${JSON.stringify(p)}]`,
  );
}

/**
 * SHA-256 (hex) of the bytes behind `row`'s Save link, read and hashed inside the page
 * (the test's hash, not the app's). For many files: Chromium stops starting downloads
 * that a page triggers in quick succession (after ten here), however they are clicked.
 */
export async function hashInPage(row: Locator): Promise<string> {
  const link = row.getByTestId('transfer-download');
  await expect(link).toBeVisible();
  return link.evaluate(async (a: HTMLAnchorElement) => {
    const digest = await crypto.subtle.digest('SHA-256', await (await fetch(a.href)).arrayBuffer());
    return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
  });
}

/** Saves the verified download of `row` to disk (Playwright download) and returns its path. */
export async function saveDownload(peer: PeerPage, row: Locator, dir: string): Promise<string> {
  const link = row.getByTestId('transfer-download');
  await expect(link).toBeVisible();
  const [download] = await Promise.all([peer.page.waitForEvent('download'), link.click()]);
  const target = path.join(dir, `${Date.now()}-${download.suggestedFilename()}`);
  await download.saveAs(target);
  return target;
}

/**
 * Drops `paths` (files or folders on disk) on `target` the way an operating system
 * does: Chromium's DevTools `Input.dispatchDragEvent` with file names, so the page
 * gets real `DataTransferItem`s whose `webkitGetAsEntry()` walks real folders.
 */
export async function dropPaths(peer: PeerPage, target: Locator, paths: string[]): Promise<void> {
  const box = await target.boundingBox();
  expect(box, 'drop target is visible').toBeTruthy();
  const x = box!.x + box!.width / 2;
  const y = box!.y + box!.height / 2;
  const cdp = await peer.page.context().newCDPSession(peer.page);
  try {
    const data = { items: [], files: paths, dragOperationsMask: 1 };
    for (const type of ['dragEnter', 'dragOver', 'drop'] as const) {
      await cdp.send('Input.dispatchDragEvent', { type, x, y, data });
    }
  } finally {
    await cdp.detach();
  }
}

/**
 * What `peer`'s page keeps of partial incoming files in its origin private file
 * system (peerlink-incoming/<token>/{offer.json, seg-N}), read from the page's own
 * storage: segment bytes, offers (transfers that could be resumed), folders.
 */
export async function storedIncoming(peer: PeerPage): Promise<{ bytes: number; offers: number; folders: number }> {
  return peer.page.evaluate(async () => {
    const out = { bytes: 0, offers: 0, folders: 0 };
    const root = await navigator.storage.getDirectory();
    let dir: FileSystemDirectoryHandle;
    try {
      dir = await root.getDirectoryHandle('peerlink-incoming');
    } catch {
      return out;
    }
    for await (const transfer of (dir as any).values()) {
      if (transfer.kind !== 'directory') continue;
      out.folders += 1;
      for await (const entry of transfer.values()) {
        if (entry.kind !== 'file') continue;
        if (entry.name === 'offer.json') out.offers += 1;
        if (/^seg-\d{8}$/.test(entry.name)) out.bytes += (await entry.getFile()).size;
      }
    }
    return out;
  });
}

/**
 * What `peer`'s page holds, for a failure report: the Web Locks it holds, each
 * stored folder (its files and offer), and its incoming rows.
 */
export async function storageReport(peer: PeerPage): Promise<string> {
  const report = await peer.page.evaluate(async () => {
    const locks = await navigator.locks.query();
    const folders: string[] = [];
    try {
      const root = await (await navigator.storage.getDirectory()).getDirectoryHandle('peerlink-incoming');
      for await (const dir of (root as any).values()) {
        if (dir.kind !== 'directory') continue;
        const names: string[] = [];
        for await (const entry of dir.values()) names.push(entry.name);
        let offer = '';
        try {
          offer = await (await (await dir.getFileHandle('offer.json')).getFile()).text();
        } catch {}
        folders.push(`${dir.name}: ${names.sort().join(', ')} ${offer}`);
      }
    } catch {}
    const rows = Array.from(document.querySelectorAll<HTMLElement>('[data-testid=transfer][data-direction=incoming]'))
      .map((li) => `${li.dataset.path} ${li.dataset.state} partial=${li.dataset.partialBytes ?? '-'}`);
    return { held: locks.held?.map((l) => l.name), pending: locks.pending?.map((l) => l.name), folders, rows };
  });
  return JSON.stringify(report, null, 2);
}

/** Ada and Bo in `room`, chat only, linked to each other. */
export async function filePair(
  openPeers: (...names: string[]) => Promise<PeerPage[]>,
  room: string,
): Promise<[PeerPage, PeerPage]> {
  const [ada, bo] = await openPeers('Ada', 'Bo');
  await joinWith(ada, room, 'chat');
  await joinWith(bo, room, 'chat');
  await ada.expectConnectedTo([bo]);
  await bo.expectConnectedTo([ada]);
  return [ada, bo];
}

/** Waits for `receiver`'s offer row of `p`, accepts it, waits for "verified" and
 * returns the SHA-256 of the saved download. */
export async function acceptAndHash(receiver: PeerPage, p: string, saveDir: string): Promise<string> {
  const row = transferRow(receiver, p, 'incoming');
  await expect(row).toHaveAttribute('data-state', 'offered', { timeout: 20_000 });
  await row.getByTestId('transfer-accept').click();
  await expect(row).toHaveAttribute('data-state', 'verified', { timeout: 60_000 });
  return sha256File(await saveDownload(receiver, row, saveDir));
}

/**
 * `sender` offers `source` (its file input), `receiver` accepts it, and this waits
 * until the receiver has at least `minBytes` of it stored (whole segments in OPFS):
 * the moment the resume tests break the transfer. Returns the receiver's row.
 */
export async function acceptUntilStored(sender: PeerPage, receiver: PeerPage, source: string, minBytes: number): Promise<Locator> {
  await sender.page.getByTestId('file-input').setInputFiles(source);
  const incoming = transferRow(receiver, path.basename(source), 'incoming');
  await expect(incoming).toHaveAttribute('data-state', 'offered', { timeout: 20_000 });
  await incoming.getByTestId('transfer-accept').click();
  await expect
    .poll(() => storedIncoming(receiver).then((s) => s.bytes), { timeout: 60_000, intervals: [50] })
    .toBeGreaterThanOrEqual(minBytes);
  return incoming;
}

/** Writes each `[path, size, seed]` under `dir`; returns each path's SHA-256. */
export function generateFiles(dir: string, entries: ReadonlyArray<readonly [string, number, number]>): Record<string, string> {
  const files: Record<string, string> = {};
  for (const [rel, size, seed] of entries) files[rel] = generateFile(path.join(dir, rel), size, seed);
  return files;
}

/**
 * `sender` sends folder `folder` (its folder input), `receiver` accepts all its
 * files (`paths`) with one click, and each arrives verified.
 */
export async function sendFolderAcceptAll(sender: PeerPage, receiver: PeerPage, folder: string, paths: string[]): Promise<void> {
  await sender.page.getByTestId('folder-input').setInputFiles(folder);
  const acceptAll = receiver.page.getByTestId('transfer-accept-all');
  await expect(acceptAll).toHaveText(`Accept all ${paths.length} files`, { timeout: 20_000 });
  await acceptAll.click();
  for (const rel of paths) {
    await expect(transferRow(receiver, rel, 'incoming')).toHaveAttribute('data-state', 'verified', { timeout: 60_000 });
  }
}
