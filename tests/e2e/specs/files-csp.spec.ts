import os from 'node:os';
import path from 'node:path';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { expect, test } from '../lib/fixtures';
import { acceptAndHash, filePair, generateFile, storedIncoming } from '../lib/files';
import { distDir } from '../lib/server';

const MiB = 1024 * 1024;

// peerlink writes received segments into storage from a worker it starts from a
// blob: URL (src/web/segment_writer.rs). A page whose Content-Security-Policy has
// no `worker-src blob:` cannot start it; then the page must write them itself.
const page = path.join(os.tmpdir(), `peerlink-e2e-csp-${process.pid}`);

test.describe('file sharing under a Content-Security-Policy without workers', () => {
  test.use({ serverOptions: { staticDir: page } });

  test.beforeAll(() => {
    cpSync(distDir(), page, { recursive: true });
    const index = path.join(page, 'index.html');
    const html = readFileSync(index, 'utf8');
    const policy = `<meta http-equiv="Content-Security-Policy" content="worker-src 'none'">`;
    if (!/<head>/.test(html)) throw new Error('no <head> in the built page');
    writeFileSync(index, html.replace('<head>', `<head>\n  ${policy}`));
  });

  test.afterAll(() => rmSync(page, { recursive: true, force: true }));

  test('a received file is still stored, written by the page itself', async ({ openPeers, room }, testInfo) => {
    const dir = testInfo.outputPath('csp');
    const size = 24 * MiB; // three 8 MiB segments, so it goes to storage
    const expected = generateFile(path.join(dir, 'csp.bin'), size, 8);
    const [ada, bo] = await filePair(openPeers, room);
    await bo.page.evaluate(() => {
      const w = window as unknown as { blocked: string[] };
      w.blocked = [];
      document.addEventListener('securitypolicyviolation', (e) => w.blocked.push(e.effectiveDirective));
    });

    await ada.page.getByTestId('file-input').setInputFiles(path.join(dir, 'csp.bin'));
    expect(await acceptAndHash(bo, 'csp.bin', dir)).toBe(expected);
    // The worker was refused, and the segments are in storage all the same.
    expect(await bo.page.evaluate(() => (window as unknown as { blocked: string[] }).blocked)).toContain('worker-src');
    await expect.poll(() => storedIncoming(bo)).toEqual({ bytes: size, offers: 0, folders: 1 });
  });
});
