// Call setup benchmark: join → first remote video frame, peerlink page vs a
// minimal hand-written JS page (baseline.html), same server, same browser, same
// run. Started by scripts/bench-call.sh inside scripts/netns.sh; see README.md.
//
// Environment:
//   PEERLINK_SERVER_BIN  peerlink-server binary (required)
//   BENCH_STATIC         directory served with --static: dist/ plus baseline.html (required)
//   BENCH_RUNS           measured runs per variant (default 15, at least 10 for the table)
//   BENCH_WARMUP         unmeasured runs per variant first (default 1)
//   BENCH_OUT            markdown output (default latest.md next to this file)
//   BENCH_VARIANTS       default peerlink,baseline,baseline-dc,baseline-hd (the first two are required)
//   BENCH_TIMELINE=1     also print every mark of the median run of each variant
//   BENCH_PROFILE=1      also CPU-profile the joining page's main thread, from its click
//                        to its first frame, into /tmp/callprof-<variant>-<n>.cpuprofile
//   PEERLINK_CHROMIUM    browser (default /usr/bin/chromium)
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startProcess } from '../lib/process.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const RUNS = Number(process.env.BENCH_RUNS ?? 15);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 1);
const OUT = process.env.BENCH_OUT ?? path.join(HERE, 'latest.md');
const RUN_TIMEOUT_MS = 20_000;
const TARGET_RATIO = 1.2;

if (process.env.PEERLINK_NETNS !== '1') {
  throw new Error('run inside scripts/netns.sh (scripts/bench-call.sh does)');
}
const SERVER_BIN = required('PEERLINK_SERVER_BIN');
const STATIC_DIR = required('BENCH_STATIC');

function required(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (scripts/bench-call.sh sets it)`);
  return v;
}

/**
 * The flags every suite gives Chromium, read from webdriver.json (the single
 * list; see shared/TOOLCHAIN.md), plus --no-sandbox for root.
 */
function chromiumArgs() {
  const webdriver = JSON.parse(readFileSync(path.join(REPO, 'webdriver.json'), 'utf8'));
  const args = ['--no-sandbox', ...webdriver['goog:chromeOptions'].args];
  if (!args.includes('--use-fake-device-for-media-stream')) {
    throw new Error(`unexpected Chromium flags in webdriver.json: ${args.join(' ')}`);
  }
  return args;
}

// --- the server ---------------------------------------------------------------

async function startServer() {
  const server = await startProcess([SERVER_BIN, '--static', STATIC_DIR, '--listen', '127.0.0.1:0'], {
    ready: /peerlink-server listening on (http:\/\/\S+)/,
    what: 'peerlink-server',
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn' },
    timeoutMs: 15_000,
  });
  return { ...server, origin: server.match[1].replace(/\/$/, '') };
}

// --- one run --------------------------------------------------------------------

const VARIANTS = {
  peerlink: {
    label: 'peerlink (Rust/Wasm page)',
    path: '/',
    async ready(page) {
      // The static HTML says "Loading…" until the Wasm app runs.
      await page.waitForFunction(
        () => {
          const s = document.querySelector('[data-testid=status]');
          return s && s.dataset.state === 'idle' && !/^\s*Loading/.test(s.textContent);
        },
        null,
        { timeout: RUN_TIMEOUT_MS },
      );
    },
    async fill(page, room, name) {
      await page.getByTestId('mode-video').check();
      await page.getByTestId('room-input').fill(room);
      await page.getByTestId('name-input').fill(name);
    },
    async inCall(page) {
      // Joined and the camera is on (the self-view shows once start_media is done).
      await page.getByTestId('local-tile').waitFor({ state: 'visible', timeout: RUN_TIMEOUT_MS });
    },
  },
  baseline: {
    label: 'baseline (plain JS page)',
    path: '/baseline.html',
    async ready() {},
    async fill(page, room, name) {
      await page.getByTestId('room-input').fill(room);
      await page.getByTestId('name-input').fill(name);
    },
    async inCall(page) {
      await page.waitForFunction(
        () => document.querySelector('[data-testid=status]')?.dataset.state === 'joined' &&
          document.querySelector('[data-testid=local-video]')?.srcObject,
        null,
        { timeout: RUN_TIMEOUT_MS },
      );
    },
  },
};
// The baseline asking for peerlink's capture size (1280×720@30 ideal, see
// VideoRequest::call_default): tells the cost of that choice (the encoder drops
// the first frames as too large for its start bitrate and scales down) apart
// from the cost of peerlink's negotiation.
VARIANTS['baseline-hd'] = {
  ...VARIANTS.baseline,
  label: 'baseline, 1280×720@30 capture',
  path: '/baseline.html?video=hd',
};
// The baseline with peerlink's two data channels (negotiated, ids 0 and 1): the
// offer and answer carry the same three m-sections as peerlink's (audio, video,
// SCTP), as a call whose mute state travels over a data channel must.
VARIANTS['baseline-dc'] = {
  ...VARIANTS.baseline,
  label: 'baseline + data channels (same m-sections as peerlink)',
  path: '/baseline.html?dc=1',
};
const SELECTED = (process.env.BENCH_VARIANTS ?? 'peerlink,baseline,baseline-dc,baseline-hd').split(',');
for (const v of SELECTED) if (!VARIANTS[v]) throw new Error(`unknown variant ${v} in BENCH_VARIANTS`);
if (!SELECTED.includes('peerlink') || !SELECTED.includes('baseline')) {
  throw new Error('BENCH_VARIANTS must include peerlink and baseline');
}

let roomCounter = 0;

/**
 * The first participant joins with camera and is in the call; then the second
 * one clicks Join (t0) and we wait for its first remote frame (t1). Both pages
 * in fresh browser contexts, a fresh room each run.
 */
async function runOnce(browser, origin, variantName) {
  const variant = VARIANTS[variantName];
  const room = `bench-${variantName}-${process.pid}-${++roomCounter}-${Date.now().toString(36)}`;
  const contexts = [];
  try {
    const open = async (name) => {
      const context = await browser.newContext();
      contexts.push(context);
      await context.addInitScript({ path: path.join(HERE, 'instrument.js') });
      const page = await context.newPage();
      const errors = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      await page.goto(origin + variant.path);
      try {
        await variant.ready(page);
      } catch (e) {
        const status = await page.getByTestId('status').textContent().catch(() => null);
        throw new Error(`${name}'s page did not start (status ${JSON.stringify(status)})` +
          `${errors.length ? `; page errors:\n    ${errors.slice(0, 5).join('\n    ')}` : ''}`);
      }
      return { page, errors };
    };
    const first = await open('Ada');
    await variant.fill(first.page, room, 'Ada');
    await first.page.getByTestId('join-button').click();
    await variant.inCall(first.page);

    const second = await open('Bo');
    await variant.fill(second.page, room, 'Bo');
    let cdp;
    if (process.env.BENCH_PROFILE === '1') {
      cdp = await second.page.context().newCDPSession(second.page);
      await cdp.send('Profiler.enable');
      await cdp.send('Profiler.setSamplingInterval', { interval: 100 });
      await cdp.send('Profiler.start');
    }
    await second.page.getByTestId('join-button').click();
    try {
      await second.page.waitForFunction(() => window.__bench.firstFrame !== undefined, null, {
        timeout: RUN_TIMEOUT_MS,
        polling: 50,
      });
    } catch (e) {
      const errs = [...first.errors, ...second.errors].slice(0, 5).join('\n  ');
      throw new Error(`no remote frame within ${RUN_TIMEOUT_MS} ms${errs ? `; page errors:\n  ${errs}` : ''}`);
    }
    const joiner = await second.page.evaluate(() => ({
      start: window.__bench.start,
      firstFrame: window.__bench.firstFrame,
      size: window.__bench.firstFrameSize,
      marks: window.__bench.marks,
    }));
    if (cdp) {
      const { profile } = await cdp.send('Profiler.stop');
      writeFileSync(`/tmp/callprof-${variantName}-${roomCounter}.cpuprofile`, JSON.stringify(profile));
    }
    const host = await first.page.evaluate(() => window.__bench.marks);
    const stats = {
      joiner: await second.page.evaluate(() => window.__bench.videoStats()),
      host: await first.page.evaluate(() => window.__bench.videoStats()),
    };
    if (joiner.start === undefined) throw new Error('the join click was not seen');
    return {
      ms: joiner.firstFrame - joiner.start,
      size: joiner.size,
      stats,
      marks: [
        ...joiner.marks.map((m) => ({ ...m, page: 'Bo' })),
        ...host.filter((m) => m.t >= joiner.start).map((m) => ({ ...m, page: 'Ada' })),
      ]
        .map((m) => ({ ...m, t: m.t - joiner.start }))
        .sort((a, b) => a.t - b.t),
    };
  } finally {
    await Promise.all(contexts.map((c) => c.close().catch(() => {})));
  }
}

// --- statistics and output --------------------------------------------------------

const sorted = (xs) => [...xs].sort((a, b) => a - b);
function median(xs) {
  const s = sorted(xs);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}
/** Nearest-rank percentile. */
const percentile = (xs, p) => sorted(xs)[Math.max(0, Math.ceil((p / 100) * xs.length) - 1)];
const fmt = (x) => (x === undefined || Number.isNaN(x) ? '–' : x.toFixed(0));

/** Milestones of the breakdown: the first mark matching each, ms after the click. */
const MILESTONES = [
  ['getUserMedia resolved (Bo)', (m) => m.page === 'Bo' && m.what === 'getUserMedia resolved'],
  ['WebSocket open (Bo)', (m) => m.page === 'Bo' && m.what === 'WebSocket open'],
  ['welcome received (Bo)', (m) => m.page === 'Bo' && m.what === 'got welcome'],
  ['first offer sent (Bo)', (m) => m.page === 'Bo' && /^sent offer/.test(m.what)],
  ['first offer received (Ada)', (m) => m.page === 'Ada' && /^got offer/.test(m.what)],
  ['first answer sent (Ada)', (m) => m.page === 'Ada' && /^sent answer/.test(m.what)],
  ['first answer received (Bo)', (m) => m.page === 'Bo' && /^got answer/.test(m.what)],
  ['ICE connected (Bo)', (m) => m.page === 'Bo' && m.what === 'ice connected'],
  ['DTLS/pc connected (Bo)', (m) => m.page === 'Bo' && m.what === 'connection connected'],
  ['offer with video sent (either)', (m) => /^sent offer \[.*video/.test(m.what)],
  ['answer with video received (either)', (m) => /^got answer \[.*video/.test(m.what)],
  ['remote video track (Bo)', (m) => m.page === 'Bo' && m.what === 'track video'],
  ['remote <video> added (Bo)', (m) => m.page === 'Bo' && m.what === 'remote <video> added'],
  ['first frame presented (Bo)', (m) => m.page === 'Bo' && m.what === 'first frame presented'],
];
const count = (match) => (r) => r.marks.filter(match).length;
const sum = (list, key) => (list ?? []).reduce((a, s) => a + (s[key] ?? 0), 0);
/** Counts per run (median shown); video counters read right after the first frame. */
const COUNTS = [
  ['offers sent (both pages)', count((m) => /^sent offer/.test(m.what))],
  ['answers sent (both pages)', count((m) => /^sent answer/.test(m.what))],
  ['negotiationneeded (both pages)', count((m) => m.what === 'negotiationneeded')],
  ['Ada: video frames encoded by then', (r) => sum(r.stats?.host.outbound, 'framesEncoded')],
  ['Ada: keyframes encoded by then', (r) => sum(r.stats?.host.outbound, 'keyFramesEncoded')],
  ['Ada: PLI/FIR received by then', (r) => sum(r.stats?.host.outbound, 'pliCount') + sum(r.stats?.host.outbound, 'firCount')],
  ['Bo: video packets received by then', (r) => sum(r.stats?.joiner.inbound, 'packetsReceived')],
  ['Bo: PLI/FIR sent by then', (r) => sum(r.stats?.joiner.inbound, 'pliCount') + sum(r.stats?.joiner.inbound, 'firCount')],
];

function breakdown(runs) {
  const rows = MILESTONES.map(([name, match]) => {
    const ts = runs.map((r) => r.marks.find(match)?.t).filter((t) => t !== undefined);
    return [name, ts.length ? median(ts) : undefined, ts.length];
  });
  const counts = COUNTS.map(([name, f]) => [name, runs.length ? median(runs.map(f)) : NaN]);
  return { rows, counts };
}

function table(header, rows, align) {
  const cells = [header, ...rows].map((r) => r.map(String));
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  const line = (r) =>
    r.map((c, i) => (align[i] === 'r' ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
  const md = (r) => `| ${r.join(' | ')} |`;
  return {
    text: [line(cells[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n'),
    markdown: [md(cells[0]), md(align.map((a) => (a === 'r' ? '---:' : '---'))), ...cells.slice(1).map(md)].join(
      '\n',
    ),
  };
}

// --- main -----------------------------------------------------------------------

// Stop between runs on INT/TERM (scripts/netns.sh forwards them): close the
// browser and the server, print nothing as a result, write nothing.
// A second signal a while later (not the same Ctrl-C arriving twice, from the
// terminal and forwarded) exits at once; the namespace then ends the rest.
let interrupted;
let interruptedAt = 0;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    if (interrupted && Date.now() - interruptedAt > 1000) process.exit(1);
    if (interrupted) return;
    interrupted = signal;
    interruptedAt = Date.now();
    console.log(`bench call-setup: ${signal}, stopping after this run`);
  });
}

async function main() {
  const args = chromiumArgs();
  const server = await startServer();
  const browser = await chromium.launch({
    executablePath: process.env.PEERLINK_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args,
    // Our own handlers stop the loop and close the browser in `finally`.
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
  });
  const chromiumVersion = browser.version();
  // Other work on the machine skews the figures (alternating spreads it over
  // both variants, but not away): say how busy it was.
  const loadBefore = os.loadavg()[0];
  const results = Object.fromEntries(SELECTED.map((v) => [v, []]));
  const failures = Object.fromEntries(SELECTED.map((v) => [v, []]));
  try {
    console.log(`bench call-setup: ${server.origin}, Chromium ${chromiumVersion}, ${RUNS} runs per variant (+${WARMUP} warm-up), alternating`);
    const order = [];
    for (let i = 0; i < WARMUP + RUNS; i++) {
      // Alternate, and reverse the order every other round, so drift and
      // "the run after the other variant" effects fall on all alike.
      const round = i % 2 === 0 ? SELECTED : [...SELECTED].reverse();
      for (const v of round) order.push([v, i < WARMUP]);
    }
    const failedInARow = Object.fromEntries(SELECTED.map((v) => [v, 0]));
    for (const [variant, warmup] of order) {
      if (interrupted) break;
      // A page that fails every time (e.g. a broken build) is not worth 15 timeouts.
      if (failedInARow[variant] >= 3) continue;
      try {
        const r = await runOnce(browser, server.origin, variant);
        const tag = warmup ? 'warm-up' : `run ${results[variant].length + 1}`;
        console.log(`  ${variant.padEnd(11)} ${tag.padEnd(7)} ${r.ms.toFixed(0).padStart(5)} ms  (${r.size?.join('×')})`);
        if (!warmup) results[variant].push(r);
        failedInARow[variant] = 0;
      } catch (e) {
        failedInARow[variant] += 1;
        if (failedInARow[variant] === 3) console.log(`  ${variant.padEnd(11)} failed 3 times in a row: no more runs of it`);
        console.log(`  ${variant.padEnd(11)} FAILED: ${e.message}`);
        if (!warmup) failures[variant].push(e.message);
      }
    }
  } finally {
    await browser.close().catch(() => {});
    await server.stop();
  }
  if (interrupted) {
    process.exitCode = 130;
    return;
  }

  const load = `load average ${loadBefore.toFixed(1)} at the start, ${os.loadavg()[0].toFixed(1)} at the end`;
  const summary = SELECTED.map((v) => {
    const ms = results[v].map((r) => r.ms);
    return {
      v,
      n: ms.length,
      failed: failures[v].length,
      median: ms.length ? median(ms) : NaN,
      p90: ms.length ? percentile(ms, 90) : NaN,
      min: ms.length ? Math.min(...ms) : NaN,
      max: ms.length ? Math.max(...ms) : NaN,
    };
  });
  const pl = summary.find((s) => s.v === 'peerlink');
  const base = summary.find((s) => s.v === 'baseline');
  const ratio = pl.median / base.median;
  const main = table(
    ['variant', 'runs', 'failed', 'median ms', 'p90 ms', 'min ms', 'max ms'],
    summary.map((s) => [VARIANTS[s.v].label, s.n, s.failed, fmt(s.median), fmt(s.p90), fmt(s.min), fmt(s.max)]),
    ['l', 'r', 'r', 'r', 'r', 'r', 'r'],
  );
  const hd = summary.find((s) => s.v === 'baseline-hd');
  const dc = summary.find((s) => s.v === 'baseline-dc');
  const verdict =
    `peerlink / baseline (medians): ${ratio.toFixed(2)}× — target ≤ ${TARGET_RATIO}× ${
      ratio <= TARGET_RATIO ? '(met)' : '(NOT met)'
    }` +
    (dc ? `; peerlink / baseline-dc: ${(pl.median / dc.median).toFixed(2)}×` : '') +
    (hd ? `; peerlink / baseline-hd: ${(pl.median / hd.median).toFixed(2)}×` : '');

  const b = SELECTED.map((v) => breakdown(results[v]));
  const cell = (x, k, total) => (k === 0 ? '–' : k < total ? `${fmt(x)} (${k}/${total} runs)` : fmt(x));
  const bd = table(
    ['milestone (median ms after the click on Join)', ...SELECTED],
    [
      ...MILESTONES.map(([name], i) => [
        name,
        ...SELECTED.map((v, j) => cell(b[j].rows[i][1], b[j].rows[i][2], results[v].length)),
      ]),
      ...COUNTS.map(([name], i) => [`${name}, median`, ...b.map((x) => fmt(x.counts[i][1]))]),
    ],
    ['l', ...SELECTED.map(() => 'r')],
  );

  console.log(`\n${load}\n${main.text}\n${verdict}\n`);
  console.log(bd.text + '\n');

  if (process.env.BENCH_TIMELINE === '1') {
    for (const v of SELECTED) {
      const rs = [...results[v]].sort((a, b) => a.ms - b.ms);
      const mid = rs[Math.floor((rs.length - 1) / 2)];
      if (!mid) continue;
      console.log(`timeline of the median ${v} run (${mid.ms.toFixed(0)} ms), ms after the click:`);
      for (const m of mid.marks) {
        console.log(`  ${m.t.toFixed(1).padStart(7)}  ${m.page.padEnd(3)} ${m.what}${m.detail?.pc ? ` (pc ${m.detail.pc})` : ''}`);
      }
      console.log('');
    }
  }

  const when = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const commit = process.env.BENCH_COMMIT ?? 'unknown';
  const md = [
    '<!-- written by scripts/bench-call.sh (bench/call-setup/run.mjs); do not edit by hand -->',
    '### Call setup: join → first remote video frame',
    '',
    `${when}, commit ${commit}, Chromium ${chromiumVersion}, ${os.cpus().length} cores, ` +
      `${load}, private network namespace, fake camera/mic, ` +
      `${RUNS} runs per variant alternating (+${WARMUP} warm-up each).`,
    '',
    main.markdown,
    '',
    `**${verdict}**`,
    '',
    '<details><summary>Where the time goes (median per milestone)</summary>',
    '',
    bd.markdown,
    '',
    '</details>',
    '',
  ].join('\n');
  // Too few calls set up means something is broken: keep the last good table.
  const wanted = Math.min(10, RUNS);
  if (summary.some((s) => s.n < wanted)) {
    console.error(`bench call-setup: too few successful runs (${summary.map((s) => `${s.v} ${s.n}`).join(', ')}); ` +
      `${path.relative(process.cwd(), OUT)} left as it was`);
    process.exitCode = 1;
    return;
  }
  writeFileSync(OUT, md);
  console.log(`wrote ${path.relative(process.cwd(), OUT)}`);
}

main().catch((e) => {
  console.error(`bench call-setup: ${e.stack ?? e}`);
  process.exitCode = 1;
});
