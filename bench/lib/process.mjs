// Starting the benchmarks' servers: one way for all of them (bench/*/run.mjs).
import { spawn } from 'node:child_process';

/**
 * Spawns `argv` and resolves once its output (stdout or stderr) matches `ready`,
 * with `{ match, output, stop() }`; rejects with the output so far if it exits
 * first or is not ready within `timeoutMs`. `stop()` sends SIGTERM, then SIGKILL
 * after 5 s, and resolves when the process has exited.
 */
export async function startProcess(argv, { ready, what, env = process.env, timeoutMs = 20_000 }) {
  const [cmd, ...args] = argv;
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  const output = [];
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const match = await new Promise((resolve, reject) => {
    const fail = (e) => {
      child.kill('SIGKILL');
      reject(e);
    };
    let seen = '';
    const timer = setTimeout(() => fail(new Error(`${what} did not start:\n${output.join('')}`)), timeoutMs);
    const onData = (chunk) => {
      output.push(chunk);
      seen += chunk;
      const m = ready.exec(seen);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    };
    child.stdout.setEncoding('utf8').on('data', onData);
    child.stderr.setEncoding('utf8').on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code ?? signal}) before it was ready:\n${output.join('')}`));
    });
  });
  return {
    match,
    output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
