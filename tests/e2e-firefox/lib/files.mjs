// The file-sharing steps the Firefox suites share: a transfer's row, the test's own
// hash of a received file, what the receiver keeps in OPFS, offer and accept.
import assert from 'node:assert/strict';
import path from 'node:path';
import { poll, tid } from './peer.mjs';

/** The transfer row of `name` on `peer`'s page. */
export function row(name, direction) {
  return tid('transfer', { 'data-direction': direction, 'data-path': name });
}

/** data-state and text of `peer`'s row, or null while there is none. */
export function rowState(peer, selector) {
  return peer.page.evaluate((sel) => {
    const li = document.querySelector(sel);
    return li ? { state: li.dataset.state, text: li.textContent.replace(/\s+/g, ' ').trim() } : null;
  }, selector);
}

/**
 * Fetches the Blob behind the download link of `selector`'s row inside the page
 * and hashes it there with crypto.subtle.digest: the test's hash of exactly the
 * bytes a click on "Save" would store, not the app's own check.
 */
export function hashDownload(peer, selector) {
  return peer.page.evaluate(async (sel) => {
    const link = document.querySelector(`${sel} [data-testid="transfer-download"]`);
    if (!link) throw new Error('no download link');
    const bytes = await (await fetch(link.href)).arrayBuffer();
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
    return {
      name: link.getAttribute('download'),
      size: bytes.byteLength,
      sha256: Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join(''),
    };
  }, selector);
}

/** Bytes of received segments `peer` keeps in OPFS (peerlink-incoming/<token>/seg-N). */
export function storedBytes(peer) {
  return peer.page.evaluate(async () => {
    let total = 0;
    let dir;
    try {
      dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('peerlink-incoming');
    } catch {
      return 0;
    }
    for await (const transfer of dir.values()) {
      if (transfer.kind !== 'directory') continue;
      for await (const entry of transfer.values()) {
        if (entry.kind === 'file' && /^seg-\d{8}$/.test(entry.name)) total += (await entry.getFile()).size;
      }
    }
    return total;
  });
}

/** `sender` offers `sources`, picked together through its file input. */
export async function offer(sender, ...sources) {
  const input = await sender.page.$(tid('file-input'));
  assert.ok(input, `${sender.name} has a file input`);
  await input.uploadFile(...sources);
  await input.dispose();
}

/**
 * `sender` offers `source` (picked through its file input) and `receiver` accepts
 * it; returns the receiver's offer row (state, text) as it was before the click.
 */
export async function offerAndAccept(sender, receiver, source) {
  await offer(sender, source);
  const name = path.basename(source);
  const incoming = row(name, 'incoming');
  const offered = await poll(() => rowState(receiver, incoming), (r) => r?.state === 'offered', {
    timeout: 20_000,
    message: `${receiver.name}'s offer row of ${name}`,
  });
  await receiver.page.locator(`${incoming} ${tid('transfer-accept')}`).click();
  return offered;
}
