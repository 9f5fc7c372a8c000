// File transfer benchmark: the peerlink page against a minimal hand-written
// RTCDataChannel page (raw.html, the ceiling) and PeerJS (peerjs.html + npm
// `peer`), two Chromium instances on two network hosts, clean link and with
// random UDP loss, in one run. Started by scripts/bench-files.sh inside
// scripts/two-hosts.sh; see README.md.
//
// Environment (the script sets the first group):
//   PEERLINK_SERVER_BIN   peerlink-server binary
//   BENCH_STATIC          directory served with --static: dist/ + raw.html, peerjs.html, peerjs.min.js
//   BENCH_COMMIT          shown in the output
//   PEERLINK_CHROMIUM_A/_B, PEERLINK_IN_HOST   from scripts/two-hosts.sh
//
//   BENCH_RUNS=3          measured runs per variant and condition (median reported)
//   BENCH_SIZE_MIB=256    file size for the throughput table
//   BENCH_LOSS=5          % of UDP packets dropped on host b's input in the "loss" condition
//   BENCH_CONDITIONS=clean,loss
//   BENCH_VARIANTS=peerlink,raw,peerjs   (also: raw-keep, peerjs-keep: receivers that keep the file as a Blob)
//   BENCH_MEMORY_MIB=1024 size of the memory run (peerlink, clean link); 0 skips it
//   BENCH_PROFILE_S=0     >0: after the table, CPU-profile the sender's and receiver's
//                         main threads for this many seconds during one clean transfer
//                         of each variant (peerlink from the named build in /named/)
//   BENCH_PROFILE_DIR     keep the .cpuprofile files there (default: deleted)
//   BENCH_THREAD_MIN=5    CPU-by-thread table: threads with at least this many ms/MiB in some variant
//   BENCH_OUT             markdown output (default latest.md next to this file)
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, createReadStream, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { generateFile } from '../../tests/lib/generate-file.mjs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startProcess } from '../lib/process.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const MiB = 1024 * 1024;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SIZE = Number(process.env.BENCH_SIZE_MIB ?? 256) * MiB;
const LOSS = Number(process.env.BENCH_LOSS ?? 5);
const MEMORY_SIZE = Number(process.env.BENCH_MEMORY_MIB ?? 1024) * MiB;
const PROFILE_S = Number(process.env.BENCH_PROFILE_S ?? 0);
const THREAD_MIN = Number(process.env.BENCH_THREAD_MIN ?? 5);
const OUT = process.env.BENCH_OUT ?? path.join(HERE, 'latest.md');
const CONNECT_TIMEOUT_MS = 30_000;
/** A transfer slower than this (MiB/s) counts as failed rather than waited for. */
const SLOWEST_MIB_S = 0.5;
const TARGET_RAW_RATIO = 0.95;
const TARGET_WASM_MIB = 32;
const PEERJS_KEY = 'peerjs';
/** The PeerServer's port in host a (its CLI takes no port 0; nothing else listens there). */
const PEERJS_PORT = 9000;

if (process.env.PEERLINK_NETNS !== '1') {
  throw new Error('run inside scripts/two-hosts.sh (scripts/bench-files.sh does)');
}
const required = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (scripts/bench-files.sh and scripts/two-hosts.sh set it)`);
  return v;
};
const SERVER_BIN = required('PEERLINK_SERVER_BIN');
const STATIC_DIR = required('BENCH_STATIC');
const CHROMIUM_A = required('PEERLINK_CHROMIUM_A');
const CHROMIUM_B = required('PEERLINK_CHROMIUM_B');
const IN_HOST = required('PEERLINK_IN_HOST');
const HOST_A_IP = process.env.PEERLINK_HOST_A_IP ?? '10.78.0.1';

const VARIANTS = {
  peerlink: 'peerlink (Rust/Wasm page)',
  raw: 'raw RTCDataChannel (plain JS)',
  'raw-keep': 'raw, keeping the file (Blob)',
  'peerjs-keep': 'PeerJS, keeping the file (Blob)',
  peerjs: 'PeerJS 1.5.5 (binary)',
};
// Investigating: BENCH_ALT_PAGE=/dir/ adds the variant "peerlink-alt", a second
// build of the page that bench-files.sh (or you) put under that path in
// BENCH_STATIC, e.g. with a different profile; include it in BENCH_VARIANTS.
if (process.env.BENCH_ALT_PAGE) VARIANTS['peerlink-alt'] = process.env.BENCH_ALT_LABEL ?? `peerlink page at ${process.env.BENCH_ALT_PAGE}`;
const CONDITIONS = {
  clean: 'clean link',
  loss: `${LOSS} % UDP loss`,
};
const SELECTED = (process.env.BENCH_VARIANTS ?? 'peerlink,raw,peerjs').split(',');
const SELECTED_CONDITIONS = (process.env.BENCH_CONDITIONS ?? 'clean,loss').split(',');
for (const v of SELECTED) if (!VARIANTS[v]) throw new Error(`unknown variant ${v} in BENCH_VARIANTS`);
for (const c of SELECTED_CONDITIONS) if (!CONDITIONS[c]) throw new Error(`unknown condition ${c} in BENCH_CONDITIONS`);

/** The flags every suite gives Chromium: webdriver.json (the single list), plus --no-sandbox. */
function chromiumArgs() {
  const webdriver = JSON.parse(readFileSync(path.join(REPO, 'webdriver.json'), 'utf8'));
  return ['--no-sandbox', ...webdriver['goog:chromeOptions'].args];
}

const log = (...a) => console.log(...a);

// --- processes in the hosts ---------------------------------------------------------

/**
 * Starts CMD in host `host` (bench/lib/process.mjs). `in-host` execs `ip netns
 * exec`, which execs CMD, so the child's pid is CMD's own and signals reach it
 * directly.
 */
function startInHost(host, cmd, args, ready, what) {
  return startProcess([IN_HOST, host, cmd, ...args], { ready, what });
}

function inHost(host, ...args) {
  const r = spawnSync(IN_HOST, [host, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${args.join(' ')} in host ${host}: ${r.stderr || r.status}`);
  return r.stdout;
}

/** Packets and bytes through host b's end of the link (veth vb), both ways. */
function wireSnapshot() {
  const stat = (name) => Number(inHost('b', 'cat', `/sys/class/net/vb/statistics/${name}`).trim());
  return { inPackets: stat('rx_packets'), inBytes: stat('rx_bytes'), outPackets: stat('tx_packets'), outBytes: stat('tx_bytes') };
}
const wireDelta = (a, b) => Object.fromEntries(Object.keys(a).map((k) => [k, b[k] - a[k]]));

/** Random UDP loss on host b's input (shared/TOOLCHAIN.md: no netem here, nftables). */
const LOSS_TABLE = 'peerlink_bench_loss';
function setLoss(on) {
  const exists = spawnSync(IN_HOST, ['b', 'nft', 'list', 'table', 'inet', LOSS_TABLE], { stdio: 'ignore' }).status === 0;
  if (exists) inHost('b', 'nft', 'delete', 'table', 'inet', LOSS_TABLE);
  if (!on) return;
  inHost('b', 'nft', 'add', 'table', 'inet', LOSS_TABLE);
  inHost('b', 'nft', 'add', 'chain', 'inet', LOSS_TABLE, 'in', '{ type filter hook input priority 0; }');
  inHost('b', 'nft', 'add', 'rule', 'inet', LOSS_TABLE, 'in', 'meta', 'l4proto', 'udp', 'numgen', 'random', 'mod', '100', '<', String(LOSS), 'counter', 'drop');
}

/** Packets the loss rule has dropped since it was added. */
function dropped() {
  const out = inHost('b', 'nft', 'list', 'table', 'inet', LOSS_TABLE);
  return Number(/packets (\d+)/.exec(out)?.[1] ?? NaN);
}

// --- test files (generateFile: tests/lib/generate-file.mjs) -------------------------

async function sha256File(file) {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk);
  return hash.digest('hex');
}

// --- CPU time per thread ------------------------------------------------------------------

/**
 * CPU time (user + system, in ms) of every thread of every Chromium process,
 * keyed "host · process type · thread name", read from /proc (this runs in the
 * PID namespace of scripts/two-hosts.sh, which sees exactly the browsers we
 * started). The host comes from the process's network namespace. Two snapshots
 * around a transfer say which threads did the work, on both sides, whatever
 * else the machine is doing; the main-thread CPU profile cannot see the
 * WebRTC threads.
 */
const TICK_MS = 1000 / Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim() || 100);
let netnsHost;
function hostOfNetns(inode) {
  netnsHost ??= {
    [readlinkSync('/proc/self/ns/net')]: 'runner',
    [inHost('a', 'readlink', '/proc/self/ns/net').trim()]: 'A',
    [inHost('b', 'readlink', '/proc/self/ns/net').trim()]: 'B',
  };
  return netnsHost[inode] ?? '?';
}

function processType(cmdline) {
  const type = /--type=(\S+)/.exec(cmdline)?.[1];
  if (!type) return 'browser';
  if (type === 'utility') return /--utility-sub-type=(\S+)/.exec(cmdline)?.[1]?.replace(/\.mojom\./, '.') ?? 'utility';
  return type;
}

function cpuSnapshot() {
  const out = new Map();
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      if (!/^chrom/.test(comm)) continue;
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      const host = hostOfNetns(readlinkSync(`/proc/${pid}/ns/net`));
      const ptype = processType(cmdline);
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const ms = (Number(fields[11]) + Number(fields[12])) * TICK_MS;
        const thread = tid === pid ? 'main' : name.replace(/\d+$/, '');
        out.set(`${pid}/${tid}`, { key: `${host} · ${ptype} · ${thread}`, ms });
      }
    } catch {
      // The process or thread ended while we looked.
    }
  }
  return out;
}

/** CPU ms per key between two snapshots (threads that started in between count in full). */
function cpuDelta(before, after) {
  const byKey = new Map();
  for (const [id, { key, ms }] of after) {
    const d = ms - (before.get(id)?.ms ?? 0);
    if (d > 0) byKey.set(key, (byKey.get(key) ?? 0) + d);
  }
  return byKey;
}

// --- one transfer --------------------------------------------------------------------

let roomCounter = 0;
const uniqueRoom = (v) => `bench-${v}-${process.pid}-${++roomCounter}-${Date.now().toString(36)}`;

/**
 * A fresh page in each browser's (persistent) context, closed afterwards with
 * whatever it holds (blobs, channels, workers).
 */
async function withPages(env, fn) {
  const { ctxA, ctxB } = env;
  const pageA = await ctxA.newPage();
  const pageB = await ctxB.newPage();
  const errors = [];
  for (const [name, page] of [['A', pageA], ['B', pageB]]) {
    page.on('pageerror', (e) => errors.push(`${name}: ${e}`));
    page.on('console', (m) => m.type() === 'error' && errors.push(`${name}: ${m.text()}`));
  }
  try {
    return await fn({ ctxA, ctxB, pageA, pageB, errors });
  } catch (e) {
    const errs = errors.slice(0, 5).join('\n  ');
    throw new Error(`${e.message}${errs ? `\n  page errors:\n  ${errs}` : ''}`);
  } finally {
    await pageA.close().catch(() => {});
    await pageB.close().catch(() => {});
  }
}

const timeoutFor = (size) => Math.max(120_000, (size / MiB / SLOWEST_MIB_S) * 1000);

async function peerlinkReady(page, url) {
  await page.goto(url);
  await page.waitForFunction(() => {
    const s = document.querySelector('[data-testid=status]');
    return s && s.dataset.state === 'idle' && !/^\s*Loading/.test(s.textContent);
  });
}

async function peerlinkJoin(page, room, name) {
  await page.getByTestId('mode-chat').check();
  await page.getByTestId('room-input').fill(room);
  await page.getByTestId('name-input').fill(name);
  await page.getByTestId('join-button').click();
  await page.waitForFunction(() => document.querySelector('[data-testid=status]')?.dataset.state === 'joined', null, {
    timeout: CONNECT_TIMEOUT_MS,
  });
}

async function peerlinkConnected(page, other) {
  await page
    .locator(`[data-testid=participant][data-name=${JSON.stringify(other)}][data-state=connected]`)
    .waitFor({ timeout: CONNECT_TIMEOUT_MS });
}

/**
 * Records, on the receiver's page, the time of the click on Accept (capturing
 * listener, before the app's own) and of the row's data-state becoming
 * "verified" (or another final state), both performance.now().
 */
function watchRow(selector) {
  const row = document.querySelector(selector);
  const t = (window.__benchRow = { t0: undefined, t1: undefined, state: row.dataset.state });
  row.addEventListener('click', (e) => {
    if (e.target.closest('[data-testid=transfer-accept]') && t.t0 === undefined) t.t0 = performance.now();
  }, { capture: true });
  // The end: a verdict other than "verified", or "verified" AND the file ready to
  // save (its download link), so that keeping the bytes is timed too.
  const check = () => {
    const state = row.dataset.state;
    t.state = state;
    const ready = state !== 'verified' || row.querySelector('[data-testid=transfer-download]');
    if (['verified', 'failed', 'cancelled', 'rejected', 'mismatch'].includes(state) && ready && t.t1 === undefined) {
      t.t1 = performance.now();
      t.result = row.querySelector('[data-testid=transfer-result]')?.textContent ?? '';
    }
  };
  const observer = new MutationObserver(check);
  observer.observe(row, { attributes: true, attributeFilter: ['data-state'] });
  observer.observe(row.querySelector('.actions') ?? row, { childList: true });
}

/**
 * Peak memory of the receiver while it runs: the Wasm linear memory (the
 * `memory` export Trunk's loader hands to its TrunkApplicationStarted event;
 * it only grows, so its last size is its peak) and the JS heap
 * (CDP Performance.getMetrics JSHeapUsedSize every 200 ms).
 */
const CAPTURE_WASM_MEMORY = () => {
  addEventListener('TrunkApplicationStarted', (e) => {
    window.__wasmMemory = e.detail?.wasm?.memory;
  });
};

/**
 * Injected into the sender's page before its own scripts: keeps the data
 * channels the page creates and, once asked, samples the largest
 * bufferedAmount every 10 ms. A sender whose queue runs dry leaves SCTP idle
 * (what the app's own pacing costs); one that keeps it full is limited by the
 * link or the CPU instead.
 */
const WATCH_SEND_QUEUE = () => {
  const channels = [];
  const create = RTCPeerConnection.prototype.createDataChannel;
  RTCPeerConnection.prototype.createDataChannel = function (...args) {
    const dc = create.apply(this, args);
    channels.push(dc);
    return dc;
  };
  const q = (window.__sendQueue = { samples: 0, empty: 0, sum: 0, timer: 0 });
  q.start = () => {
    q.timer = setInterval(() => {
      const b = Math.max(0, ...channels.filter((c) => c.readyState === 'open').map((c) => c.bufferedAmount));
      q.samples++;
      q.sum += b;
      if (b < 64 * 1024) q.empty++;
    }, 10);
  };
  q.stop = () => {
    clearInterval(q.timer);
    return { samples: q.samples, emptyShare: q.empty / Math.max(1, q.samples), meanBytes: q.sum / Math.max(1, q.samples) };
  };
};

async function startSampling(ctx, page) {
  const cdp = await ctx.newCDPSession(page);
  await cdp.send('Performance.enable');
  const s = { heapPeak: 0, heapSamples: 0, wasmPeak: 0, stop: false };
  const wasmNow = () => page.evaluate(() => window.__wasmMemory?.buffer.byteLength ?? 0).catch(() => 0);
  s.wasmStart = await wasmNow();
  s.done = (async () => {
    while (!s.stop) {
      const { metrics } = await cdp.send('Performance.getMetrics').catch(() => ({ metrics: [] }));
      const used = metrics.find((m) => m.name === 'JSHeapUsedSize')?.value ?? 0;
      s.heapPeak = Math.max(s.heapPeak, used);
      s.heapSamples++;
      s.wasmPeak = Math.max(s.wasmPeak, await wasmNow());
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  return s;
}

async function runPeerlink(env, { file, size, name, hash, verify = false, sample = false, profile = 0, page = '/' }) {
  return withPages(env, async ({ ctxA, ctxB, pageA, pageB }) => {
    if (sample) {
      await pageA.addInitScript(CAPTURE_WASM_MEMORY);
      await pageB.addInitScript(CAPTURE_WASM_MEMORY);
    }
    const room = uniqueRoom('peerlink');
    await peerlinkReady(pageA, env.origin + page);
    await peerlinkReady(pageB, env.origin + page);
    await peerlinkJoin(pageA, room, 'Ada');
    await peerlinkJoin(pageB, room, 'Bo');
    await peerlinkConnected(pageA, 'Bo');
    await peerlinkConnected(pageB, 'Ada');

    await pageA.getByTestId('file-input').setInputFiles(file);
    const selector = `[data-testid=transfer][data-direction=incoming][data-path=${JSON.stringify(name)}]`;
    const row = pageB.locator(selector);
    await pageB.locator(`${selector}[data-state=offered]`).waitFor({ timeout: CONNECT_TIMEOUT_MS });
    await pageB.evaluate(watchRow, selector);
    const sampler = sample ? await startSampling(ctxB, pageB) : undefined;
    const cpuBefore = cpuSnapshot();
    const wireBefore = wireSnapshot();
    await pageA.evaluate(() => window.__sendQueue.start());
    await row.getByTestId('transfer-accept').click();
    const profiles = profile ? await cpuProfile([['sender', ctxA, pageA], ['receiver', ctxB, pageB]], profile) : undefined;
    await pageB.waitForFunction(() => window.__benchRow.t1 !== undefined, null, {
      timeout: timeoutFor(size),
      polling: 250,
    });
    const cpu = cpuDelta(cpuBefore, cpuSnapshot());
    const wire = wireDelta(wireBefore, wireSnapshot());
    const queue = await pageA.evaluate(() => window.__sendQueue.stop());
    const t = await pageB.evaluate(() => window.__benchRow);
    let memory;
    if (sampler) {
      sampler.stop = true;
      await sampler.done;
      const senderWasm = await pageA.evaluate(() => window.__wasmMemory?.buffer.byteLength ?? 0);
      memory = { heapPeak: sampler.heapPeak, samples: sampler.heapSamples, wasmPeak: sampler.wasmPeak, wasmStart: sampler.wasmStart, senderWasm };
    }
    if (t.state !== 'verified') throw new Error(`transfer ended ${t.state}: ${t.result}`);
    if (t.t0 === undefined) throw new Error('the click on Accept was not seen');
    let hashChecked = false;
    if (verify) {
      // Outside the timed part: save the download and hash it here.
      const link = row.getByTestId('transfer-download');
      const [download] = await Promise.all([pageB.waitForEvent('download'), link.click()]);
      const saved = path.join(env.tmp, `download-${Date.now()}.bin`);
      await download.saveAs(saved);
      const got = await sha256File(saved);
      rmSync(saved, { force: true });
      if (got !== hash) throw new Error(`received file's SHA-256 ${got} != ${hash}`);
      hashChecked = true;
    }
    return { ms: t.t1 - t.t0, bytes: size, hashChecked, memory, profiles, cpu, queue, wire };
  });
}

async function runRaw(env, { file, size, profile = 0, keep = false }) {
  return withPages(env, async ({ ctxA, ctxB, pageA, pageB }) => {
    const room = uniqueRoom('raw');
    // The sender joins first; the receiver, the newcomer, offers.
    await pageA.goto(`${env.origin}/raw.html?role=send&room=${room}`);
    await pageA.waitForFunction(() => document.querySelector('#status').dataset.state === 'joined');
    await pageB.goto(`${env.origin}/raw.html?role=recv&room=${room}${keep ? '&keep=1' : ''}`);
    return transferJs(pageA, pageB, ctxA, ctxB, file, size, profile);
  });
}

async function runPeerjs(env, { file, size, profile = 0, keep = false }) {
  return withPages(env, async ({ ctxA, ctxB, pageA, pageB }) => {
    const room = uniqueRoom('peerjs');
    const q = `host=${HOST_A_IP}&port=${env.peerjsPort}`;
    await pageB.goto(`${env.origin}/peerjs.html?role=recv&id=${room}-b&${q}${keep ? '&keep=1' : ''}`);
    await pageB.waitForFunction(() => window.bench.registered || window.bench.error, null, { timeout: CONNECT_TIMEOUT_MS });
    await pageA.goto(`${env.origin}/peerjs.html?role=send&id=${room}-a&peer=${room}-b&${q}`);
    return transferJs(pageA, pageB, ctxA, ctxB, file, size, profile);
  });
}

/** raw.html and peerjs.html: wait for the channel, pick the file, start, wait for all bytes. */
async function transferJs(pageA, pageB, ctxA, ctxB, file, size, profile) {
  for (const page of [pageA, pageB]) {
    await page.waitForFunction(() => window.bench.ready || window.bench.error, null, { timeout: CONNECT_TIMEOUT_MS });
  }
  await pageA.getByTestId('file-input').setInputFiles(file);
  const cpuBefore = cpuSnapshot();
  const wireBefore = wireSnapshot();
  await pageA.evaluate(() => window.__sendQueue.start());
  await pageB.evaluate((size) => window.bench.start(size), size);
  const profiles = profile ? await cpuProfile([['sender', ctxA, pageA], ['receiver', ctxB, pageB]], profile) : undefined;
  await pageB.waitForFunction(() => window.bench.done || window.bench.error, null, {
    timeout: timeoutFor(size),
    polling: 250,
  });
  const cpu = cpuDelta(cpuBefore, cpuSnapshot());
  const wire = wireDelta(wireBefore, wireSnapshot());
  const queue = await pageA.evaluate(() => window.__sendQueue.stop());
  const [a, b] = await Promise.all([pageA.evaluate(() => window.bench), pageB.evaluate(() => window.bench)]);
  if (a.error || b.error) throw new Error(`sender: ${a.error ?? 'ok'}; receiver: ${b.error ?? 'ok'}`);
  if (b.done.bytes !== size) throw new Error(`received ${b.done.bytes} bytes, expected ${size}`);
  return { ms: b.done.t1 - b.done.t0, bytes: b.done.bytes, profiles, cpu, queue, wire };
}

const RUNNERS = {
  peerlink: runPeerlink,
  raw: runRaw,
  peerjs: runPeerjs,
  'raw-keep': (env, opts) => runRaw(env, { ...opts, keep: true }),
  'peerjs-keep': (env, opts) => runPeerjs(env, { ...opts, keep: true }),
  'peerlink-alt': (env, opts) => runPeerlink(env, { ...opts, page: process.env.BENCH_ALT_PAGE }),
};

// --- CPU profiles -------------------------------------------------------------------------

/** CPU profiles of several pages at once for `seconds`, while a transfer runs. */
async function cpuProfile(pages, seconds) {
  // Let the transfer reach its steady state first.
  await new Promise((r) => setTimeout(r, 2000));
  const sessions = [];
  for (const [role, ctx, page] of pages) {
    const cdp = await ctx.newCDPSession(page);
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
    sessions.push([role, cdp]);
  }
  await Promise.all(sessions.map(([, cdp]) => cdp.send('Profiler.start')));
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const out = {};
  for (const [role, cdp] of sessions) out[role] = (await cdp.send('Profiler.stop')).profile;
  return out;
}

/** `_ZN4sha23sha2569compress17h0123456789abcdefE` → `sha2::sha256::compress` (legacy Rust mangling). */
function demangle(name) {
  const m = /^_?_ZN(.*)E$/.exec(name);
  if (!m) return name.replace(/::h[0-9a-f]{16}$/, '');
  const parts = [];
  let rest = m[1];
  while (rest.length) {
    const len = /^(\d+)/.exec(rest);
    if (!len) break;
    const n = Number(len[1]);
    parts.push(rest.slice(len[1].length, len[1].length + n));
    rest = rest.slice(len[1].length + n);
  }
  if (/^h[0-9a-f]{16}$/.test(parts.at(-1) ?? '')) parts.pop();
  return parts
    .join('::')
    .replace(/\$LT\$/g, '<').replace(/\$GT\$/g, '>').replace(/\$u20\$/g, ' ').replace(/\$u7b\$/g, '{')
    .replace(/\$u7d\$/g, '}').replace(/\$RF\$/g, '&').replace(/\$C\$/g, ',').replace(/\.\./g, '::');
}

/** Buckets for the "where the time goes" line; first match wins (on the frame's name and script). */
const CATEGORIES = [
  ['SHA-256 (sha2, Wasm)', /sha2|compress256|sha256/i],
  ['memcpy/memmove (Wasm)', /^(memcpy|memmove|compiler_builtins::mem)/],
  ['other Wasm', /\.wasm\]$|wasm-function|^\$/],
  ['garbage collection', /^\(garbage collector\)/],
  ['(program): browser-internal work', /^\(program\)/],
  ['idle', /^\(idle\)/],
];

/** Self time per function (name + script), largest first, as % of all samples; and per category. */
function summarizeProfile(profile, top = 20) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const counts = new Map();
  for (const id of profile.samples) counts.set(id, (counts.get(id) ?? 0) + 1);
  const total = profile.samples.length;
  const self = new Map();
  for (const [id, n] of counts) {
    const f = byId.get(id).callFrame;
    const script = f.url ? path.basename(f.url.split('?')[0]) : '';
    const key = `${demangle(f.functionName) || '(anonymous)'}${script ? ` [${script}]` : ''}`;
    self.set(key, (self.get(key) ?? 0) + n);
  }
  const category = new Map();
  for (const [k, n] of self) {
    const c = CATEGORIES.find(([, re]) => re.test(k))?.[0] ?? 'JS and Web APIs called from JS';
    category.set(c, (category.get(c) ?? 0) + n);
  }
  const pct = (n) => (100 * n) / total;
  const idle = category.get('idle') ?? 0;
  return {
    total,
    busy: pct(total - idle),
    rows: [...self].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, n]) => [k, pct(n)]),
    categories: [...category].sort((a, b) => b[1] - a[1]).map(([k, n]) => [k, pct(n)]),
  };
}

// --- statistics and output ------------------------------------------------------------------

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}
const mibs = (r) => r.bytes / MiB / (r.ms / 1000);
/** CPU ms per MiB transferred, per host (A sender, B receiver) and per thread key. */
function cpuPerMiB(r) {
  const per = { A: 0, B: 0, keys: new Map() };
  for (const [key, ms] of r.cpu ?? []) {
    const x = ms / (r.bytes / MiB);
    per.keys.set(key, x);
    const host = key.split(' · ')[0];
    if (host === 'A' || host === 'B') per[host] += x;
  }
  return per;
}
const f1 = (x) => (x === undefined || Number.isNaN(x) ? '–' : x.toFixed(1));
const f2 = (x) => (x === undefined || Number.isNaN(x) || !Number.isFinite(x) ? '–' : x.toFixed(2));

function table(header, rows, align) {
  const cells = [header, ...rows].map((r) => r.map(String));
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  const line = (r) => r.map((c, i) => (align[i] === 'r' ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
  const md = (r) => `| ${r.join(' | ')} |`;
  return {
    text: [line(cells[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n'),
    markdown: [md(cells[0]), md(align.map((a) => (a === 'r' ? '---:' : '---'))), ...cells.slice(1).map(md)].join('\n'),
  };
}

// --- main -----------------------------------------------------------------------------------

async function main() {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'peerlink-bench-files-'));
  const servers = [];
  const browsers = [];
  try {
    const name = `bench-${SIZE / MiB}MiB.bin`;
    const file = path.join(tmp, name);
    log(`bench files: generating ${SIZE / MiB} MiB test file`);
    const hash = generateFile(file, SIZE, 11);

    const server = await startInHost(
      'a',
      SERVER_BIN,
      ['--static', STATIC_DIR, '--listen', `${HOST_A_IP}:0`],
      /peerlink-server listening on (http:\/\/\S+)/,
      'peerlink-server',
    );
    servers.push(server);
    const origin = server.match[1].replace(/\/$/, '');
    const peerjsBin = path.join(HERE, 'node_modules/peer/dist/bin/peerjs.js');
    const peerServer = await startInHost(
      'a',
      process.execPath,
      [peerjsBin, '--host', HOST_A_IP, '--port', String(PEERJS_PORT), '--key', PEERJS_KEY],
      /Started PeerServer on \S+, port: (\d+)/,
      'PeerServer (npm peer)',
    );
    servers.push(peerServer);
    const peerjsPort = Number(peerServer.match[1]);

    const args = [...chromiumArgs(), `--unsafely-treat-insecure-origin-as-secure=${origin}`];
    // Persistent profiles, as a user's browser has: Playwright's default contexts
    // are off the record, where Chromium keeps the origin private file system (the
    // peerlink receiver's storage) in memory and serves even a worker's sync access
    // handle through the browser process. On disk it is written directly.
    const launch = async (executablePath, host) => {
      const ctx = await chromium.launchPersistentContext(path.join(tmp, `profile-${host}`), {
        executablePath,
        args,
        acceptDownloads: true,
      });
      browsers.push(ctx);
      for (const page of ctx.pages()) await page.close();
      return ctx;
    };
    const ctxA = await launch(CHROMIUM_A, 'a');
    await ctxA.addInitScript(WATCH_SEND_QUEUE);
    const ctxB = await launch(CHROMIUM_B, 'b');
    const env = { ctxA, ctxB, origin, peerjsPort, tmp };
    const chromiumVersion = await (async () => {
      const page = await ctxA.newPage();
      try {
        const cdp = await ctxA.newCDPSession(page);
        const { product } = await cdp.send('Browser.getVersion');
        return product.replace(/^\D*\//, '');
      } finally {
        await page.close();
      }
    })();
    const loadBefore = os.loadavg()[0];
    log(
      `bench files: page ${origin} (host a), PeerServer :${peerjsPort} (host a), sender Chromium ${chromiumVersion} in host a, ` +
        `receiver in host b; ${SIZE / MiB} MiB, ${RUNS} runs per variant and condition, alternating`,
    );

    const results = {};
    const failures = {};
    for (const condition of SELECTED_CONDITIONS) {
      setLoss(condition === 'loss');
      log(`\n== ${CONDITIONS[condition]}`);
      const verified = new Set();
      for (let i = 0; i < RUNS; i++) {
        // Alternate, reversing every other round, so drift and machine load fall on all alike.
        const round = i % 2 === 0 ? SELECTED : [...SELECTED].reverse();
        for (const v of round) {
          const key = `${v}/${condition}`;
          results[key] ??= [];
          failures[key] ??= [];
          try {
            const verify = v.startsWith('peerlink') && !verified.has(v);
            const r = await RUNNERS[v](env, { file, size: SIZE, name, hash, verify });
            if (r.hashChecked) verified.add(v);
            results[key].push(r);
            const c = cpuPerMiB(r);
            log(
              `  ${v.padEnd(9)} run ${i + 1}  ${f1(mibs(r)).padStart(6)} MiB/s  (${(r.ms / 1000).toFixed(1)} s; ` +
                `CPU ms/MiB: sender host ${f1(c.A)}, receiver host ${f1(c.B)}; ` +
                `send queue < 64 KiB ${f1(100 * r.queue.emptyShare)} % of the time, mean ${f2(r.queue.meanBytes / MiB)} MiB` +
                `${r.hashChecked ? '; SHA-256 of the download checked' : ''})`,
            );
          } catch (e) {
            failures[key].push(e.message);
            log(`  ${v.padEnd(9)} run ${i + 1}  FAILED: ${e.message}`);
          }
        }
      }
      if (condition === 'loss') log(`  (the loss rule dropped ${dropped()} UDP packets in this condition)`);
    }
    setLoss(false);

    let memory;
    if (MEMORY_SIZE > 0 && SELECTED.includes('peerlink')) {
      const memName = `bench-${MEMORY_SIZE / MiB}MiB.bin`;
      const memFile = path.join(tmp, memName);
      log(`\n== memory: ${MEMORY_SIZE / MiB} MiB peerlink transfer, clean link (generating the file)`);
      generateFile(memFile, MEMORY_SIZE, 12);
      try {
        const r = await runPeerlink(env, { file: memFile, size: MEMORY_SIZE, name: memName, sample: true });
        memory = { ...r.memory, mibs: mibs(r), ms: r.ms };
        log(
          `  receiver: wasm memory ${f1(memory.wasmStart / MiB)} MiB before → peak ${f1(memory.wasmPeak / MiB)} MiB, ` +
            `JS heap peak ${f1(memory.heapPeak / MiB)} MiB (${memory.samples} samples); sender wasm ${f1(memory.senderWasm / MiB)} MiB; ` +
            `${f1(memory.mibs)} MiB/s`,
        );
      } catch (e) {
        memory = { error: e.message };
        log(`  FAILED: ${e.message}`);
      }
      rmSync(memFile, { force: true });
    }

    if (PROFILE_S > 0) {
      // The named build (bench-files.sh puts it under /named/) so Wasm frames carry function names.
      const profiled = SELECTED.map((v) => [v, v === 'peerlink' ? { page: '/named/' } : {}]);
      for (const [v, extra] of profiled) {
        log(`\n== CPU profile: ${v}, clean link, ${PROFILE_S} s of a ${SIZE / MiB} MiB transfer`);
        const r = await RUNNERS[v](env, { file, size: SIZE, name, hash, profile: PROFILE_S, ...extra });
        for (const [role, profile] of Object.entries(r.profiles)) {
          const out = path.join(tmp, `profile-${v}-${role}.cpuprofile`);
          writeFileSync(out, JSON.stringify(profile));
          const s = summarizeProfile(profile);
          log(`\n${v} ${role}: busy ${f1(s.busy)} % of ${s.total} samples (main thread of its renderer)`);
          log(table(['self', 'category'], s.categories.map(([k, p]) => [`${f1(p)} %`, k]), ['r', 'l']).text);
          log(table(['self', 'function [script]'], s.rows.map(([k, p]) => [`${f1(p)} %`, k]), ['r', 'l']).text);
        }
        log(`(${v}: ${f1(mibs(r))} MiB/s for the whole transfer while profiled)`);
      }
      if (process.env.BENCH_PROFILE_DIR) {
        for (const f of readdirSync(tmp).filter((f) => f.endsWith('.cpuprofile'))) {
          copyFileSync(path.join(tmp, f), path.join(process.env.BENCH_PROFILE_DIR, f));
        }
        log(`profiles copied to ${process.env.BENCH_PROFILE_DIR} (open them in Chromium DevTools → Performance)`);
      }
    }

    // --- the table ---
    const load = `load average ${loadBefore.toFixed(1)} at the start, ${os.loadavg()[0].toFixed(1)} at the end`;
    const med = (v, c) => median((results[`${v}/${c}`] ?? []).map(mibs));
    const rows = SELECTED.map((v) => [
      VARIANTS[v],
      ...SELECTED_CONDITIONS.map((c) => {
        const rs = (results[`${v}/${c}`] ?? []).map(mibs);
        const failed = failures[`${v}/${c}`]?.length ?? 0;
        const runs = rs.map(f1).join(', ');
        return `${f1(median(rs))} (${runs || 'no run'}${failed ? `; ${failed} failed` : ''})`;
      }),
    ]);
    const ratio = (a, b, c) => med(a, c) / med(b, c);
    const ratioRows = [];
    if (SELECTED.includes('raw')) ratioRows.push(['peerlink / raw', ...SELECTED_CONDITIONS.map((c) => f2(ratio('peerlink', 'raw', c)))]);
    if (SELECTED.includes('peerjs')) ratioRows.push(['peerlink / PeerJS', ...SELECTED_CONDITIONS.map((c) => f2(ratio('peerlink', 'peerjs', c)))]);
    if (SELECTED.includes('raw-keep')) ratioRows.push(['peerlink / raw keeping the file', ...SELECTED_CONDITIONS.map((c) => f2(ratio('peerlink', 'raw-keep', c)))]);
    if (SELECTED.includes('peerjs-keep')) ratioRows.push(['peerlink / PeerJS keeping the file', ...SELECTED_CONDITIONS.map((c) => f2(ratio('peerlink', 'peerjs-keep', c)))]);
    const main = table(
      ['variant', ...SELECTED_CONDITIONS.map((c) => `${CONDITIONS[c]}: MiB/s median (runs)`)],
      [...rows, ...ratioRows],
      ['l', ...SELECTED_CONDITIONS.map(() => 'r')],
    );

    // CPU per MiB: totals per host, and the threads that did the work.
    const cpuTotals = table(
      ['CPU ms per MiB (median)', ...SELECTED_CONDITIONS.flatMap((c) => [`${CONDITIONS[c]}: sender host`, 'receiver host'])],
      SELECTED.map((v) => [
        VARIANTS[v],
        ...SELECTED_CONDITIONS.flatMap((c) => {
          const rs = (results[`${v}/${c}`] ?? []).map(cpuPerMiB);
          return [f1(median(rs.map((x) => x.A))), f1(median(rs.map((x) => x.B)))];
        }),
      ]),
      ['l', ...SELECTED_CONDITIONS.flatMap(() => ['r', 'r'])],
    );
    const perMiB = (r, k) => r.wire[k] / (r.bytes / MiB);
    const wireTable = table(
      ['on the link, per MiB of file (median)', ...SELECTED_CONDITIONS.flatMap((c) => [`${CONDITIONS[c]}: packets to the receiver`, 'bytes to the receiver', 'packets back'])],
      SELECTED.map((v) => [
        VARIANTS[v],
        ...SELECTED_CONDITIONS.flatMap((c) => {
          const rs = (results[`${v}/${c}`] ?? []).filter((r) => r.wire);
          return [
            f1(median(rs.map((r) => perMiB(r, 'inPackets')))),
            `${f1(median(rs.map((r) => perMiB(r, 'inBytes') / 1024)))} KiB`,
            f1(median(rs.map((r) => perMiB(r, 'outPackets')))),
          ];
        }),
      ]),
      ['l', ...SELECTED_CONDITIONS.flatMap(() => ['r', 'r', 'r'])],
    );
    const cpuThreads = SELECTED_CONDITIONS.map((c) => {
      const perVariant = SELECTED.map((v) => (results[`${v}/${c}`] ?? []).map(cpuPerMiB));
      const keys = new Set(perVariant.flatMap((rs) => rs.flatMap((x) => [...x.keys.keys()])));
      const med = (rs, k) => median(rs.map((x) => x.keys.get(k) ?? 0));
      const rows = [...keys]
        .map((k) => [k, ...perVariant.map((rs) => med(rs, k))])
        .filter(([, ...xs]) => Math.max(...xs) >= THREAD_MIN)
        .sort((a, b) => Math.max(...b.slice(1)) - Math.max(...a.slice(1)));
      return {
        condition: c,
        table: table(
          [`${CONDITIONS[c]}: CPU ms per MiB, by host · process · thread (≥ ${THREAD_MIN} in some variant)`, ...SELECTED],
          rows.map(([k, ...xs]) => [k, ...xs.map(f1)]),
          ['l', ...SELECTED.map(() => 'r')],
        ),
      };
    });
    const queueTable = table(
      ['sender queue (bufferedAmount every 10 ms), median', ...SELECTED_CONDITIONS.flatMap((c) => [`${CONDITIONS[c]}: % of time < 64 KiB`, 'mean MiB'])],
      SELECTED.map((v) => [
        VARIANTS[v],
        ...SELECTED_CONDITIONS.flatMap((c) => {
          const qs = (results[`${v}/${c}`] ?? []).map((r) => r.queue);
          return [f1(median(qs.map((q) => 100 * q.emptyShare))), f2(median(qs.map((q) => q.meanBytes / MiB)))];
        }),
      ]),
      ['l', ...SELECTED_CONDITIONS.flatMap(() => ['r', 'r'])],
    );
    log(`\n${queueTable.text}`);
    log(`\n${cpuTotals.text}`);
    for (const t of cpuThreads) log(`\n${t.table.text}`);
    log(`\n${wireTable.text}`);

    const verdicts = [];
    for (const c of SELECTED_CONDITIONS) {
      if (SELECTED.includes('raw')) {
        const r = ratio('peerlink', 'raw', c);
        verdicts.push(`${CONDITIONS[c]}: peerlink ${f2(r)}× raw — target ≥ ${TARGET_RAW_RATIO}× ${r >= TARGET_RAW_RATIO ? '(met)' : '(NOT met)'}`);
      }
      if (SELECTED.includes('peerjs')) {
        const r = ratio('peerlink', 'peerjs', c);
        verdicts.push(`${CONDITIONS[c]}: peerlink ${f2(r)}× PeerJS — target ≥ 1× ${r >= 1 ? '(met)' : '(NOT met)'}`);
      }
    }
    let memoryMd = '';
    if (memory) {
      if (memory.error) {
        memoryMd = `Memory run (${MEMORY_SIZE / MiB} MiB) FAILED: ${memory.error}`;
      } else {
        const wasmMiB = memory.wasmPeak / MiB;
        const mem = table(
          ['receiver during a ' + `${MEMORY_SIZE / MiB} MiB peerlink transfer (clean link)`, 'value'],
          [
            ['Wasm linear memory, peak (it only grows)', `${f1(wasmMiB)} MiB`],
            ['Wasm linear memory when the transfer was accepted', `${f1(memory.wasmStart / MiB)} MiB`],
            ['JS heap used, peak (CDP JSHeapUsedSize every 200 ms)', `${f1(memory.heapPeak / MiB)} MiB (${memory.samples} samples)`],
            ['sender Wasm linear memory at the end', `${f1(memory.senderWasm / MiB)} MiB`],
            ['throughput of this run', `${f1(memory.mibs)} MiB/s`],
          ],
          ['l', 'r'],
        );
        memoryMd = mem.markdown;
        log(`\n${mem.text}`);
        verdicts.push(`receiver Wasm memory peak ${f1(wasmMiB)} MiB — target ≤ ${TARGET_WASM_MIB} MiB ${wasmMiB <= TARGET_WASM_MIB ? '(met)' : '(NOT met)'}`);
      }
    }

    log(`\n${load}\n${main.text}\n\n${verdicts.join('\n')}\n`);
    const failedLines = Object.entries(failures).flatMap(([k, es]) => es.map((e) => `- ${k}: ${e.split('\n')[0]}`));

    const when = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const md = [
      '<!-- written by scripts/bench-files.sh (bench/files/run.mjs); do not edit by hand -->',
      `### File transfer: ${SIZE / MiB} MiB between two browsers on two hosts`,
      '',
      `${when}, commit ${process.env.BENCH_COMMIT ?? 'unknown'}, Chromium ${chromiumVersion}, ${os.cpus().length} cores, ${load}. ` +
        `Sender and receiver are separate Chromium instances in two network namespaces joined by a veth; ` +
        `loss = nftables dropping ${LOSS} % of UDP packets at random on the receiver's input. ` +
        `peerlink: from the click on Accept to the row's "verified" with the file ready to save; raw and PeerJS: from the receiver's "go" to its last byte (discarded; the "keeping" variants keep every message and end with one Blob of them and its object URL). ` +
        `Median of ${RUNS} runs per cell, variants alternating.`,
      '',
      main.markdown,
      '',
      ...verdicts.map((v) => `- ${v}`),
      ...(failedLines.length ? ['', 'Failed runs:', '', ...failedLines] : []),
      '',
      ...(memoryMd ? [memoryMd, ''] : []),
      '<details><summary>Sender queue: how often the data channel had (almost) nothing to send</summary>',
      '',
      queueTable.markdown,
      '',
      '</details>',
      '',
      '<details><summary>CPU time per MiB transferred, by thread (both browsers; from /proc)</summary>',
      '',
      cpuTotals.markdown,
      '',
      ...cpuThreads.flatMap((t) => [t.table.markdown, '']),
      '</details>',
      '',
      '<details><summary>Packets on the link between the hosts, per MiB of file (host b\'s veth counters)</summary>',
      '',
      wireTable.markdown,
      '',
      '</details>',
      '',
    ].join('\n');
    writeFileSync(OUT, md);
    log(`wrote ${path.relative(process.cwd(), OUT)}`);

    const missing = SELECTED.flatMap((v) => SELECTED_CONDITIONS.map((c) => `${v}/${c}`)).filter((k) => !results[k]?.length);
    if (missing.length) {
      console.error(`bench files: no successful run for ${missing.join(', ')}`);
      process.exitCode = 1;
    }
  } finally {
    try {
      setLoss(false);
    } catch {}
    for (const b of browsers) await b.close().catch(() => {});
    for (const s of servers.reverse()) await s.stop().catch(() => {});
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`bench files: ${e.stack ?? e}`);
  process.exitCode = 1;
});
