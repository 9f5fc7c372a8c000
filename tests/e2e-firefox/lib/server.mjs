// The real peerlink-server, started the way tests/e2e/lib/server.ts does it:
// $PEERLINK_SERVER_BIN serving the Trunk-built page from $PEERLINK_DIST.
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is tests/e2e-firefox/lib/server.mjs). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** The line peerlink-server prints once it accepts connections. */
const LISTENING = /peerlink-server listening on (http:\/\/\S+)/;
const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;

/** $PEERLINK_SERVER_BIN (the Makefile sets it), else the newer of target/{debug,release}. */
export function serverBinary() {
  const fromEnv = process.env.PEERLINK_SERVER_BIN;
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`PEERLINK_SERVER_BIN=${fromEnv} does not exist`);
    return fromEnv;
  }
  const candidates = ['debug', 'release']
    .map((profile) => path.join(REPO_ROOT, 'target', profile, 'peerlink-server'))
    .filter((file) => existsSync(file))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  if (candidates.length === 0) {
    throw new Error('no peerlink-server binary: run `cargo build -p peerlink-server` (make test-e2e-firefox does)');
  }
  return candidates[0];
}

/** The built page: $PEERLINK_DIST, else <repo>/dist (from `trunk build --release`). */
export function distDir() {
  const dir = process.env.PEERLINK_DIST ?? path.join(REPO_ROOT, 'dist');
  if (!existsSync(path.join(dir, 'index.html'))) {
    throw new Error(`${dir}/index.html is missing: run \`trunk build --release\` (make test-e2e-firefox does)`);
  }
  return dir;
}

/**
 * A peerlink-server process serving the page and the signaling socket on a free
 * port of 127.0.0.1 (a secure context, so getUserMedia and OPFS work).
 */
export class PeerlinkServer {
  /** Everything the server printed, for failure reports. */
  output = [];

  constructor(child, origin, exit, output) {
    this.child = child;
    /** e.g. http://127.0.0.1:41234 (no trailing slash). */
    this.origin = origin;
    this.exit = exit;
    this.output = output;
  }

  static async start() {
    const binary = serverBinary();
    const child = spawn(binary, ['--static', distDir(), '--listen', '127.0.0.1:0'], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'info' },
    });
    const output = [];
    const exit = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    const origin = await new Promise((resolve, reject) => {
      let stdout = '';
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`peerlink-server printed no listening line in ${START_TIMEOUT_MS} ms:\n${output.join('')}`));
      }, START_TIMEOUT_MS);
      child.stdout.setEncoding('utf8').on('data', (chunk) => {
        output.push(chunk);
        stdout += chunk;
        const match = LISTENING.exec(stdout);
        if (match) {
          clearTimeout(timer);
          resolve(match[1].replace(/\/$/, ''));
        }
      });
      child.stderr.setEncoding('utf8').on('data', (chunk) => output.push(chunk));
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`cannot start ${binary}: ${err.message}`));
      });
      void exit.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`peerlink-server exited (code ${code}, signal ${signal}) before listening:\n${output.join('')}`));
      });
    });
    return new PeerlinkServer(child, origin, exit, output);
  }

  /** The page URL, e.g. url('/?room=abc'). */
  url(pathAndQuery = '/') {
    return this.origin + pathAndQuery;
  }

  /** SIGTERM, then SIGKILL if still running after STOP_TIMEOUT_MS; resolves once it is gone. */
  async stop() {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.exit;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    try {
      return await this.exit;
    } finally {
      clearTimeout(timer);
    }
  }
}
