import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test as base, chromium, type Browser, type Page } from '@playwright/test';
import { CHROMIUM_ARGS } from '../../lib/chromium';
import { PeerPage } from '../../lib/peer-page';
import { Faults, HostServer, chromiumIn, type Host } from './hosts';

export { expect } from '@playwright/test';

/** One recorded change of a `data-state` (participants, transfers) or of a progress bar's value. */
export interface Mark {
  /** Date.now() in the page (same clock as the test process: one machine). */
  t: number;
  testid: string;
  /** data-name of a participant, data-path of a transfer row. */
  key: string;
  /** data-direction of a transfer row. */
  direction?: string;
  state?: string;
  progress?: number;
}

/**
 * Records, inside the page, every data-state change of participants and
 * transfer rows and every progress value, with timestamps. Web-first waits
 * poll and can miss a state that lasts less than a poll interval; this log
 * cannot, so "went to disconnected during the cut" is checked on it.
 */
function recordMarks(): void {
  const w = window as unknown as { __marks: Mark[] };
  w.__marks = [];
  const note = (el: Element) => {
    const testid = el.getAttribute('data-testid');
    if (testid === 'participant') {
      w.__marks.push({ t: Date.now(), testid, key: el.getAttribute('data-name') ?? '', state: el.getAttribute('data-state') ?? '' });
    } else if (testid === 'transfer') {
      w.__marks.push({
        t: Date.now(),
        testid,
        key: el.getAttribute('data-path') ?? '',
        direction: el.getAttribute('data-direction') ?? '',
        state: el.getAttribute('data-state') ?? '',
      });
    } else if (testid === 'transfer-progress') {
      const row = el.closest('[data-testid="transfer"]');
      w.__marks.push({
        t: Date.now(),
        testid,
        key: row?.getAttribute('data-path') ?? '',
        direction: row?.getAttribute('data-direction') ?? '',
        progress: Number(el.getAttribute('value')),
      });
    }
  };
  const start = () => {
    new MutationObserver((records) => {
      for (const r of records) {
        if (r.type === 'attributes') note(r.target as Element);
        for (const n of Array.from(r.addedNodes)) {
          if (!(n instanceof Element)) continue;
          note(n);
          n.querySelectorAll('[data-testid]').forEach(note);
        }
      }
    }).observe(document.documentElement, {
      subtree: true,
      childList: true,
      attributes: true,
      attributeFilter: ['data-state', 'value'],
    });
  };
  if (document.documentElement) start();
  else document.addEventListener('readystatechange', start, { once: true });
}

export async function marks(peer: PeerPage): Promise<Mark[]> {
  return peer.page.evaluate(() => (window as unknown as { __marks: Mark[] }).__marks);
}

/** What Chromium says about every RTCPeerConnection of the page (window.peerlink.peers), for failure reports. */
export async function webrtcStats(page: Page): Promise<unknown> {
  return page.evaluate(async () => {
    const peers = (window as any).peerlink?.peers as Map<string, RTCPeerConnection> | undefined;
    if (!peers) return 'window.peerlink.peers is missing';
    const out: Record<string, unknown> = {};
    for (const [id, pc] of peers) {
      const stats: unknown[] = [];
      (await pc.getStats()).forEach((s: any) => {
        if (['transport', 'candidate-pair', 'data-channel', 'local-candidate', 'remote-candidate'].includes(s.type)) {
          stats.push(s);
        }
      });
      out[id] = {
        connectionState: pc.connectionState,
        iceConnectionState: pc.iceConnectionState,
        signalingState: pc.signalingState,
        sctpState: (pc as any).sctp?.state,
        sctpTransportState: (pc as any).sctp?.transport?.state,
        maxMessageSize: (pc as any).sctp?.maxMessageSize,
        stats,
      };
    }
    return out;
  });
}

export interface TwoHosts {
  /** Ada's page in a Chromium in host a, Bo's in a Chromium in host b, both at the server's page. */
  open(): Promise<{ ada: PeerPage; bo: PeerPage }>;
  /** One more page, in its own Chromium in `host`, at the server's page. */
  another(host: Host, name: string): Promise<PeerPage>;
}

interface Fixtures {
  /** peerlink-server inside host a on 10.78.0.1; stopped in teardown. */
  server: HostServer;
  /** Faults on the link; every one is undone in teardown. */
  faults: Faults;
  room: string;
  hosts: TwoHosts;
  /** A private directory for generated and downloaded files (hundreds of MiB), removed in teardown. */
  scratch: string;
}

export const test = base.extend<Fixtures>({
  server: async ({}, use, testInfo) => {
    const server = await HostServer.start('a');
    try {
      await use(server);
    } finally {
      await server.stop();
      const file = testInfo.outputPath('peerlink-server.log');
      writeFileSync(file, server.output.join('') || '(nothing)\n');
      await testInfo.attach('peerlink-server output', { path: file });
    }
  },

  faults: async ({}, use) => {
    const faults = new Faults();
    try {
      await use(faults);
    } finally {
      await faults.restore();
    }
  },

  scratch: async ({}, use) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'peerlink-faults-'));
    try {
      await use(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },

  room: async ({}, use, testInfo) => {
    const slug = testInfo.title.toLowerCase().replace(/[^a-z0-9]+/g, '-').slice(0, 32);
    await use(`faults-${slug}-${Date.now().toString(36)}`);
  },

  // Depends on `faults` so that it is torn down first: the failure report
  // (stats, console) is taken while the fault is still in place.
  hosts: async ({ server, faults }, use, testInfo) => {
    void faults;
    const browsers: Browser[] = [];
    const peers: PeerPage[] = [];
    const openIn = async (host: Host, name: string) => {
      // The page comes from http://10.78.0.1:PORT, which is not a secure
      // context (no navigator.mediaDevices): as on a LAN without https, chat and
      // files must work there anyway, and these tests cover that path.
      const args = CHROMIUM_ARGS;
      const browser = await chromium.launch({ executablePath: chromiumIn(host), args, headless: true });
      browsers.push(browser);
      const context = await browser.newContext({ acceptDownloads: true });
      await context.addInitScript(recordMarks);
      const peer = new PeerPage(await context.newPage(), name);
      peers.push(peer);
      await peer.open(server.url('/'));
      return peer;
    };
    try {
      await use({
        open: async () => {
          const [ada, bo] = await Promise.all([openIn('a', 'Ada'), openIn('b', 'Bo')]);
          return { ada, bo };
        },
        another: openIn,
      });
    } finally {
      // Kept as files next to the trace (the list reporter prints only text).
      const keep = async (name: string, body: string | Buffer) => {
        const file = testInfo.outputPath(name);
        writeFileSync(file, body);
        await testInfo.attach(name, { path: file });
      };
      for (const peer of peers) {
        if (peer.page.isClosed()) continue;
        const who = peer.name.toLowerCase();
        await keep(`timeline-${who}.json`, JSON.stringify(await marks(peer).catch((e) => `(${e})`), null, 1));
        if (testInfo.status !== testInfo.expectedStatus) {
          await keep(`webrtc-stats-${who}.json`, JSON.stringify(await webrtcStats(peer.page).catch((e) => `(${e})`), null, 1));
          await keep(`console-${who}.txt`, peer.consoleLog.join('\n') || '(nothing)');
          await keep(`screenshot-${who}.png`, await peer.page.screenshot({ fullPage: true }));
        }
      }
      await Promise.all(browsers.map((b) => b.close()));
    }
  },
});
