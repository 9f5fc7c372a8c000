// A 24 MiB file (three 8 MiB segments, which the receiver keeps in OPFS) from one
// Firefox peer to the other: offered, accepted, verified by the app, and the bytes
// behind the receiver's download link hashed by the test and compared with the
// SHA-256 of the source file that the test wrote.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { serverAndFirefox } from '../lib/firefox.mjs';
import { joinPair, poll, tid, withPeers } from '../lib/peer.mjs';
import { hashDownload, offerAndAccept, row, rowState, storedBytes } from '../lib/files.mjs';
import { generateFile } from '../../lib/generate-file.mjs';

const MiB = 1024 * 1024;
const SIZE = 24 * MiB;
const TRANSFER_TIMEOUT_MS = 120_000;
/** Bound for node:test, which has none by default (each wait inside has its own). */
const TEST_TIMEOUT_MS = 180_000;

describe('file transfer between two Firefox ESR peers', () => {
  const env = serverAndFirefox();
  let dir;

  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'peerlink-ff-files-'));
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('24 MiB arrive byte-exact: verified by the app, hashed by the test', { timeout: TEST_TIMEOUT_MS }, async () => {
    const source = path.join(dir, 'big.bin');
    const expected = generateFile(source, SIZE, 24);
    await withPeers(env.browser, env.server, ['Ada', 'Bo'], async ([ada, bo]) => {
      await joinPair(ada, bo, 'ff-files', 'chat');
      const offered = await offerAndAccept(ada, bo, source);
      assert.match(offered.text, /from Ada/);
      const incoming = row('big.bin', 'incoming');
      await poll(() => rowState(bo, incoming), (r) => r?.state === 'verified', {
        timeout: TRANSFER_TIMEOUT_MS,
        message: "Bo's row of big.bin to reach verified",
      });
      await poll(() => rowState(ada, row('big.bin', 'outgoing')), (r) => r?.state === 'verified', {
        message: "Ada's row of big.bin to reach verified",
      });

      // The Save link is added once the file is complete.
      await poll(() => bo.attribute(`${incoming} ${tid('transfer-download')}`, 'href'), (href) => !!href, {
        message: "Bo's Save link of big.bin",
      });
      const got = await hashDownload(bo, incoming);
      assert.deepEqual(got, { name: 'big.bin', size: SIZE, sha256: expected });
      // Over 8 MiB, the receiver keeps the file in its origin private file system
      // (polled: the last segment's write may settle after the row says verified).
      await poll(() => storedBytes(bo), (bytes) => bytes === SIZE, {
        message: `Bo's OPFS to hold the ${SIZE} bytes of big.bin`,
      });
      // Firefox has no folder picker: no "Save all to a folder" (each file has Save).
      assert.equal(await bo.page.$eval(tid('save-all'), (button) => button.hidden), true);
      // Removing the finished row frees the stored copy at once.
      await bo.page.locator(`${incoming} ${tid('transfer-remove')}`).click();
      await poll(() => storedBytes(bo), (bytes) => bytes === 0, {
        message: "Bo's OPFS to be empty once big.bin's row is removed",
      });
      assert.equal(await bo.page.$(incoming), null);
    });
  });

  test('the receiver reloads mid-transfer, rejoins, and the file completes from the bytes it had stored', { timeout: TEST_TIMEOUT_MS }, async () => {
    const size = 128 * MiB; // mid-way when the reload comes
    const source = path.join(dir, 'resume.bin');
    const expected = generateFile(source, size, 21);
    await withPeers(env.browser, env.server, ['Ada', 'Bo'], async ([ada, bo]) => {
      await joinPair(ada, bo, 'ff-resume', 'chat');
      await offerAndAccept(ada, bo, source);
      const incoming = row('resume.bin', 'incoming');

      // Some segments are stored, not the whole file: reload now.
      await poll(() => storedBytes(bo), (bytes) => bytes >= 16 * MiB, {
        timeout: TRANSFER_TIMEOUT_MS,
        message: 'Bo to store 16 MiB of resume.bin',
      });
      await bo.load(env.server.url('/'));
      const before = await storedBytes(bo);
      assert.ok(before >= 16 * MiB && before < size, `stored after the reload: ${before}`);
      // Before joining, the join form lists it (and the join takes it from there).
      const listed = await poll(
        () => bo.page.evaluate((sel) => Array.from(document.querySelectorAll(sel), (li) => ({
          text: li.textContent, bytes: Number(li.dataset.bytes),
        })), tid('stored-download')),
        (items) => items.length === 1,
        { message: "Bo's join form to list resume.bin" },
      );
      assert.match(listed[0].text, /^resume\.bin — .* of 134\.2 MB kept/);
      assert.ok(listed[0].bytes >= 16 * MiB, `listed ${listed[0].bytes}`);

      // Rejoin (a new peer id): the partial file is found and the sender continues.
      await bo.join('ff-resume', 'chat');
      await bo.expectConnectedTo([ada]);
      await poll(() => rowState(bo, incoming), (r) => r?.state === 'verified', {
        timeout: TRANSFER_TIMEOUT_MS,
        message: "Bo's restored row of resume.bin to reach verified",
      });
      const outgoing = row('resume.bin', 'outgoing');
      await poll(() => rowState(ada, outgoing), (r) => r?.state === 'verified', {
        message: "Ada's row of resume.bin to reach verified",
      });
      // From the stored bytes (a write committed as the page went may add some),
      // not from zero, and both sides agree on where.
      const resumedFrom = Number(await bo.attribute(incoming, 'data-resumed-from'));
      assert.ok(resumedFrom >= before && resumedFrom < size, `resumed from ${resumedFrom}, stored ${before}`);
      assert.equal(Number(await ada.attribute(outgoing, 'data-resumed-from')), resumedFrom);

      await poll(() => bo.attribute(`${incoming} ${tid('transfer-download')}`, 'href'), (href) => !!href, {
        message: "Bo's Save link of resume.bin",
      });
      assert.deepEqual(await hashDownload(bo, incoming), { name: 'resume.bin', size, sha256: expected });
    });
  });

  test('the sender reloads mid-transfer and offers the file again: it continues from what the receiver kept', { timeout: TEST_TIMEOUT_MS }, async () => {
    const size = 128 * MiB;
    const source = path.join(dir, 'again.bin');
    const expected = generateFile(source, size, 31);
    await withPeers(env.browser, env.server, ['Ada', 'Bo'], async ([ada, bo]) => {
      await joinPair(ada, bo, 'ff-sender-reload', 'chat');
      await offerAndAccept(ada, bo, source);
      await poll(() => storedBytes(bo), (bytes) => bytes >= 16 * MiB, {
        timeout: TRANSFER_TIMEOUT_MS,
        message: 'Bo to store 16 MiB of again.bin',
      });
      await ada.load(env.server.url('/'));
      const first = row('again.bin', 'incoming');
      await poll(() => rowState(bo, first), (r) => r?.state === 'failed', {
        message: "Bo's row of again.bin to say that Ada left",
      });
      const held = await storedBytes(bo);
      assert.ok(held >= 16 * MiB && held < size, `kept after the sender left: ${held}`);

      await ada.join('ff-sender-reload', 'chat');
      await ada.expectConnectedTo([bo]);
      const input = await ada.page.$(tid('file-input'));
      await input.uploadFile(source);
      await input.dispose();
      // The new offer's row (the old one stays, failed) says how much is already there.
      const offer = `${row('again.bin', 'incoming')}[data-state="offered"]`;
      const partial = Number(await poll(() => bo.attribute(offer, 'data-partial-bytes'), (b) => !!b, {
        timeout: 20_000,
        message: "Bo's new offer row to show the partial copy",
      }));
      assert.ok(partial >= held && partial < size, `partial copy ${partial}, kept ${held}`);
      const key = await bo.attribute(offer, 'data-key');
      await bo.page.locator(`${offer} ${tid('transfer-accept')}`).click();

      const taken = tid('transfer', { 'data-key': key });
      await poll(() => rowState(bo, taken), (r) => r?.state === 'verified', {
        timeout: TRANSFER_TIMEOUT_MS,
        message: "Bo's row of the new offer to reach verified",
      });
      const outgoing = row('again.bin', 'outgoing');
      await poll(() => rowState(ada, outgoing), (r) => r?.state === 'verified', {
        message: "Ada's row of again.bin to reach verified",
      });
      assert.equal(Number(await bo.attribute(taken, 'data-resumed-from')), partial);
      assert.equal(Number(await ada.attribute(outgoing, 'data-resumed-from')), partial);
      await poll(() => bo.attribute(`${taken} ${tid('transfer-download')}`, 'href'), (href) => !!href, {
        message: "Bo's Save link of again.bin",
      });
      assert.deepEqual(await hashDownload(bo, taken), { name: 'again.bin', size, sha256: expected });
    });
  });

  test('"Download all (.zip)": one archive of the received files, read back by unzip', { timeout: TEST_TIMEOUT_MS }, async () => {
    // Firefox has no folder picker: this is how a folder of files gets saved at once.
    const files = { 'zip-big.bin': [9 * MiB + 3, 41], 'notes ☀.txt': [1_000, 42] };
    const expected = {};
    for (const [name, [size, seed]] of Object.entries(files)) {
      expected[name] = generateFile(path.join(dir, name), size, seed);
    }
    await withPeers(env.browser, env.server, ['Ada', 'Bo'], async ([ada, bo]) => {
      await joinPair(ada, bo, 'ff-zip', 'chat');
      for (const name of Object.keys(files)) {
        await offerAndAccept(ada, bo, path.join(dir, name));
        await poll(() => rowState(bo, row(name, 'incoming')), (r) => r?.state === 'verified', {
          timeout: TRANSFER_TIMEOUT_MS,
          message: `Bo's row of ${name} to reach verified`,
        });
      }
      const zipAll = tid('zip-all');
      await poll(() => bo.page.$eval(zipAll, (b) => (b.hidden ? null : b.textContent)), (t) => t === 'Download all 2 files (.zip)', {
        message: "Bo's 'Download all' button",
      });
      await bo.page.locator(zipAll).click();
      const link = tid('zip-download');
      await poll(() => bo.attribute(link, 'href'), (href) => !!href, { message: 'the .zip link' });
      // The archive's bytes, as the click saved them (the same Blob URL), to the test.
      const base64 = await bo.page.evaluate(async (sel) => {
        const bytes = new Uint8Array(await (await fetch(document.querySelector(sel).href)).arrayBuffer());
        let text = '';
        for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
        return btoa(text);
      }, link);
      const archive = path.join(dir, 'from-firefox.zip');
      writeFileSync(archive, Buffer.from(base64, 'base64'));
      // The click saved it as a download too.
      await poll(async () => readdirSync(env.downloads), (names) => names.includes('peerlink-files.zip'), {
        message: 'peerlink-files.zip in the download folder',
      });
      // Info-ZIP's unzip reads it: CRCs check out, names and bytes are the sources'.
      execFileSync('unzip', ['-tq', archive]);
      const names = execFileSync('unzip', ['-Z1', archive], { encoding: 'utf8' }).trim().split('\n').sort();
      assert.deepEqual(names, Object.keys(files).sort());
      for (const [name, sha256] of Object.entries(expected)) {
        const member = execFileSync('unzip', ['-p', archive, name], { maxBuffer: 64 * MiB });
        assert.equal(createHash('sha256').update(member).digest('hex'), sha256, name);
      }
    });
  });
});
