import { test as base, expect, type BrowserContext } from '@playwright/test';
import { PeerPage } from './peer-page';
import { PeerlinkServer, type ServerOptions } from './server';

export { expect } from '@playwright/test';
export { PeerPage } from './peer-page';

interface Fixtures {
  /** Extra server flags for a test: `test.use({ serverOptions: { args: [...] } })`. */
  serverOptions: ServerOptions;
  /** A fresh peerlink-server for this test; always stopped in teardown. */
  server: PeerlinkServer;
  /** A room name no other test uses. */
  room: string;
  /**
   * Opens one page per name, each in its own browser context (own storage,
   * own peer identity), at the server's page, waiting for the app to start.
   */
  openPeers: (...names: string[]) => Promise<PeerPage[]>;
}

export const test = base.extend<Fixtures>({
  serverOptions: [{}, { option: true }],

  server: async ({ serverOptions }, use, testInfo) => {
    const server = await PeerlinkServer.start(serverOptions);
    try {
      await use(server);
    } finally {
      await server.stop();
      await testInfo.attach('peerlink-server output', {
        body: server.output.join('') || '(nothing)\n',
        contentType: 'text/plain',
      });
    }
  },

  room: async ({}, use, testInfo) => {
    const slug = testInfo.title.toLowerCase().replace(/[^a-z0-9]+/g, '-').slice(0, 32);
    await use(`e2e-${slug}-${testInfo.workerIndex}-${Date.now().toString(36)}`);
  },

  openPeers: async ({ browser, server }, use, testInfo) => {
    const contexts: BrowserContext[] = [];
    const pages: PeerPage[] = [];
    await use(async (...names: string[]) => {
      const opened = await Promise.all(
        names.map(async (name) => {
          const context = await browser.newContext();
          contexts.push(context);
          const page = await context.newPage();
          const peer = new PeerPage(page, name);
          pages.push(peer);
          await peer.open(server.url('/'));
          return peer;
        }),
      );
      return opened;
    });
    // On failure, keep what each page showed and logged.
    if (testInfo.status !== testInfo.expectedStatus) {
      for (const peer of pages) {
        await testInfo.attach(`console of ${peer.name}`, {
          body: peer.consoleLog.join('\n') || '(nothing)',
          contentType: 'text/plain',
        });
        if (!peer.page.isClosed()) {
          await testInfo.attach(`screenshot of ${peer.name}`, {
            body: await peer.page.screenshot({ fullPage: true }),
            contentType: 'image/png',
          });
        }
      }
    }
    await Promise.all(contexts.map((context) => context.close()));
  },
});

/** Asserts the server process has exited (and not merely stopped answering). */
export function expectExited(server: PeerlinkServer): void {
  expect(server.exited, 'peerlink-server should have exited').toBeDefined();
}
