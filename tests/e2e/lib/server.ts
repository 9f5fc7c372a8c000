import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';

/** The repository root (this file is tests/e2e/lib/server.ts). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');

/** The line peerlink-server prints once it accepts connections. */
const LISTENING = /peerlink-server listening on (http:\/\/\S+)/;

const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;

/**
 * The server binary: $PEERLINK_SERVER_BIN (the Makefile sets it), else the
 * newer of target/debug and target/release, so a stale build is never picked
 * over a fresh one.
 */
export function serverBinary(): string {
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
    throw new Error('no peerlink-server binary: run `cargo build -p peerlink-server` (make test-e2e does)');
  }
  return candidates[0];
}

/** The built page: $PEERLINK_DIST, else <repo>/dist (from `trunk build --release`). */
export function distDir(): string {
  const dir = process.env.PEERLINK_DIST ?? path.join(REPO_ROOT, 'dist');
  if (!existsSync(path.join(dir, 'index.html'))) {
    throw new Error(`${dir}/index.html is missing: run \`trunk build --release\` (make test-e2e does)`);
  }
  return dir;
}

export interface ServerOptions {
  /** Extra command-line flags, e.g. ['--max-peers', '2']. */
  args?: string[];
  /** Where to listen; a free port on 127.0.0.1 unless given (e.g. to restart on the same port). */
  listen?: string;
  /** The page to serve instead of distDir() (e.g. a copy with another policy). */
  staticDir?: string;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * A real peerlink-server process serving the built page and the signaling
 * socket on 127.0.0.1 (a secure context, so getUserMedia works) on a free port.
 */
export class PeerlinkServer {
  private readonly exitPromise: Promise<Exit>;
  private exitValue: Exit | undefined;

  private constructor(
    private readonly child: ChildProcess,
    /** e.g. http://127.0.0.1:41234 (no trailing slash). */
    readonly origin: string,
    /** Everything the server printed (stdout and stderr), for the test report. */
    readonly output: string[],
    exitPromise: Promise<Exit>,
  ) {
    this.exitPromise = exitPromise.then((exit) => (this.exitValue = exit));
  }

  static async start(options: ServerOptions = {}): Promise<PeerlinkServer> {
    const binary = serverBinary();
    const args = ['--static', options.staticDir ?? distDir(), '--listen', options.listen ?? '127.0.0.1:0', ...(options.args ?? [])];
    const child = spawn(binary, args, {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'info' },
    });
    const output: string[] = [];
    const exit = new Promise<Exit>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });

    const origin = await new Promise<string>((resolve, reject) => {
      let stdoutRest = '';
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`peerlink-server printed no listening line in ${START_TIMEOUT_MS} ms:\n${output.join('')}`));
      }, START_TIMEOUT_MS);
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        output.push(chunk);
        stdoutRest += chunk;
        const match = LISTENING.exec(stdoutRest);
        if (match) {
          clearTimeout(timer);
          stdoutRest = '';
          resolve(match[1].replace(/\/$/, ''));
        }
      });
      child.stderr!.setEncoding('utf8').on('data', (chunk: string) => output.push(chunk));
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`cannot start ${binary}: ${err.message}`));
      });
      void exit.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`peerlink-server exited (code ${code}, signal ${signal}) before listening:\n${output.join('')}`));
      });
    });

    return new PeerlinkServer(child, origin, output, exit);
  }

  /** The page URL, e.g. url('/?room=abc'). */
  url(pathAndQuery = '/'): string {
    return this.origin + pathAndQuery;
  }

  /** How the process ended, or undefined while it runs. */
  get exited(): Exit | undefined {
    return this.exitValue;
  }

  /**
   * Stops the server like an operator would (SIGTERM) and resolves once the
   * process is gone; SIGKILL if it has not gone in STOP_TIMEOUT_MS.
   */
  async stop(): Promise<Exit> {
    if (this.exitValue) return this.exitValue;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    try {
      return await this.exitPromise;
    } finally {
      clearTimeout(timer);
    }
  }
}
