import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { distDir, REPO_ROOT, serverBinary } from '../../lib/server';

const run = promisify(execFile);

/**
 * The two private hosts of scripts/two-hosts.sh: a (10.78.0.1, link end `va`)
 * and b (10.78.0.2, link end `vb`), joined by one veth. The test process itself
 * runs in a third, empty namespace and reaches the hosts only through
 * $PEERLINK_IN_HOST and the Chromium wrappers.
 */
export type Host = 'a' | 'b';

export const HOSTS: readonly Host[] = ['a', 'b'];
export const HOST_IP: Record<Host, string> = { a: '10.78.0.1', b: '10.78.0.2' };
const LINK: Record<Host, string> = { a: 'va', b: 'vb' };
const OTHER: Record<Host, Host> = { a: 'b', b: 'a' };

function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run the fault tests inside scripts/two-hosts.sh (scripts/test-faults.sh or make test-faults)`);
  }
  return value;
}

/** `executablePath` for a Chromium that runs inside `host`. */
export function chromiumIn(host: Host): string {
  return required(host === 'a' ? 'PEERLINK_CHROMIUM_A' : 'PEERLINK_CHROMIUM_B');
}

/** Runs CMD ARGS... inside `host`; rejects with its stderr if it fails. */
export async function inHost(host: Host, cmd: string, args: string[], input?: string): Promise<string> {
  const inHostBin = required('PEERLINK_IN_HOST');
  if (input === undefined) {
    const { stdout } = await run(inHostBin, [host, cmd, ...args]);
    return stdout;
  }
  return new Promise<string>((resolve, reject) => {
    const child = spawn(inHostBin, [host, cmd, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`in host ${host}: ${cmd} ${args.join(' ')} exited ${code}: ${err}`)),
    );
    child.stdin.end(input);
  });
}

/** The nftables table every fault rule lives in (one per host, deleted in teardown). */
const TABLE = 'peerlink_faults';
/** The table that makes a host's old address unusable after `changeAddress`. */
const MOVED_TABLE = 'peerlink_moved';

/**
 * Network faults between the hosts. Every fault is undone by `restore()`,
 * which the `faults` fixture always calls in teardown.
 */
export class Faults {
  private tables = new Set<Host>();
  private downLinks = new Set<Host>();
  private moved = new Map<Host, string>();

  /**
   * Drops `percent` % of the UDP packets arriving at each of `hosts`, at random
   * (nftables numgen; this kernel has no netem). Counters (all UDP in, UDP
   * dropped) are read with `udpCounters`.
   */
  async udpLoss(percent: number, hosts: readonly Host[] = HOSTS): Promise<void> {
    for (const host of hosts) {
      await this.ruleset(host, [
        `meta l4proto udp counter name udp_in`,
        `meta l4proto udp numgen random mod 100 < ${percent} counter name udp_dropped drop`,
      ]);
    }
  }

  /** Drops every UDP packet arriving at each of `hosts` (a cut that leaves links up). */
  async dropAllUdp(hosts: readonly Host[] = HOSTS): Promise<void> {
    for (const host of hosts) {
      await this.ruleset(host, [`meta l4proto udp counter name udp_in`, `meta l4proto udp counter name udp_dropped drop`]);
    }
  }

  /** Removes the nft rules of `host` (the fault ends; counters go with them). */
  async clearRules(host: Host): Promise<void> {
    if (!this.tables.has(host)) return;
    await inHost(host, 'nft', ['delete', 'table', 'inet', TABLE]);
    this.tables.delete(host);
  }

  /** Packets counted by the rules of `host`: all UDP that arrived, and how many of those were dropped. */
  async udpCounters(host: Host): Promise<{ udpIn: number; dropped: number }> {
    const json = JSON.parse(await inHost(host, 'nft', ['-j', 'list', 'counters', 'table', 'inet', TABLE]));
    const counters: Record<string, number> = {};
    for (const item of json.nftables as any[]) {
      if (item.counter) counters[item.counter.name] = item.counter.packets;
    }
    return { udpIn: counters.udp_in ?? 0, dropped: counters.udp_dropped ?? 0 };
  }

  /** Takes `host`'s end of the link down (the other end loses its carrier). */
  async linkDown(host: Host = 'a'): Promise<void> {
    this.downLinks.add(host);
    await inHost(host, 'ip', ['link', 'set', LINK[host], 'down']);
  }

  /**
   * Brings `host`'s end of the link up again and puts back its default route
   * (IPv4 flushes the routes of a link that goes down; the connected /24
   * comes back with the link, the default route does not).
   */
  async linkUp(host: Host = 'a'): Promise<void> {
    await inHost(host, 'ip', ['link', 'set', LINK[host], 'up']);
    await inHost(host, 'ip', ['route', 'replace', 'default', 'via', HOST_IP[OTHER[host]], 'dev', LINK[host]]);
    this.downLinks.delete(host);
  }

  /**
   * `host` moves to another address on the same link, as a laptop does when it
   * joins another network: the old address is removed (every socket bound to it
   * is dead from then on: candidates, the WebSocket), `address` added, and the default
   * route put back (it went with the old address). `restore()` moves it back.
   */
  async changeAddress(host: Host, address: string): Promise<void> {
    const from = this.moved.get(host) ?? HOST_IP[host];
    // In this order: removing a primary address also removes the secondaries of its subnet.
    await inHost(host, 'ip', ['addr', 'del', `${from}/24`, 'dev', LINK[host]]);
    await inHost(host, 'ip', ['addr', 'add', `${address}/24`, 'dev', LINK[host]]);
    await inHost(host, 'ip', ['route', 'replace', 'default', 'via', HOST_IP[OTHER[host]], 'dev', LINK[host]]);
    // Sockets bound to the old address would otherwise go on sending from it, and
    // the other host would still reach it through its neighbour cache: on another
    // network nothing to or from the old address gets through.
    const gone = address === HOST_IP[host] ? [] : [...new Set([from, HOST_IP[host]])].filter((a) => a !== address);
    const script = [
      `table inet ${MOVED_TABLE}`,
      `delete table inet ${MOVED_TABLE}`,
      ...(gone.length
        ? [
            `table inet ${MOVED_TABLE} {`,
            `  chain out { type filter hook output priority 0; policy accept; ip saddr { ${gone.join(', ')} } drop; }`,
            `  chain in { type filter hook input priority 0; policy accept; ip daddr { ${gone.join(', ')} } drop; }`,
            `}`,
          ]
        : []),
      '',
    ].join('\n');
    await inHost(host, 'nft', ['-f', '-'], script);
    if (gone.length) this.moved.set(host, address);
    else this.moved.delete(host);
  }

  /** Undoes every fault still in place (teardown; also after a failed test). */
  async restore(): Promise<void> {
    const errors: string[] = [];
    for (const host of [...this.downLinks]) await this.linkUp(host).catch((e) => errors.push(String(e)));
    for (const host of [...this.moved.keys()]) await this.changeAddress(host, HOST_IP[host]).catch((e) => errors.push(String(e)));
    for (const host of [...this.tables]) await this.clearRules(host).catch((e) => errors.push(String(e)));
    if (errors.length) throw new Error(`restoring the network failed:\n${errors.join('\n')}`);
  }

  private async ruleset(host: Host, rules: string[]): Promise<void> {
    // One atomic nft transaction: the table is created (or replaced) with its
    // named counters and the input chain in one go.
    const script = [
      `table inet ${TABLE}`,
      `delete table inet ${TABLE}`,
      `table inet ${TABLE} {`,
      `  counter udp_in { }`,
      `  counter udp_dropped { }`,
      `  chain in {`,
      `    type filter hook input priority 0; policy accept;`,
      ...rules.map((r) => `    ${r}`),
      `  }`,
      `}`,
      '',
    ].join('\n');
    this.tables.add(host);
    await inHost(host, 'nft', ['-f', '-'], script);
  }
}

/**
 * peerlink-server running inside host a, listening on 10.78.0.1 (a free port),
 * serving the built page; both hosts' browsers open it over the link.
 */
export class HostServer {
  private readonly exitPromise: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    readonly origin: string,
    readonly output: string[],
  ) {
    this.exitPromise = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
  }

  static async start(host: Host = 'a'): Promise<HostServer> {
    const args = [host, serverBinary(), '--static', distDir(), '--listen', `${HOST_IP[host]}:0`];
    // in-host and `ip netns exec` both exec, so `child` is the server itself.
    const child = spawn(required('PEERLINK_IN_HOST'), args, {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'info' },
    });
    const output: string[] = [];
    const origin = await new Promise<string>((resolve, reject) => {
      let seen = '';
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`peerlink-server in host ${host} printed no listening line in 15 s:\n${output.join('')}`));
      }, 15_000);
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        output.push(chunk);
        seen += chunk;
        const m = /peerlink-server listening on (http:\/\/\S+)/.exec(seen);
        if (m) {
          clearTimeout(timer);
          resolve(m[1].replace(/\/$/, ''));
        }
      });
      child.stderr!.setEncoding('utf8').on('data', (chunk: string) => output.push(chunk));
      child.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`peerlink-server exited (${code ?? signal}) before listening:\n${output.join('')}`));
      });
    });
    return new HostServer(child, origin, output);
  }

  url(pathAndQuery = '/'): string {
    return this.origin + pathAndQuery;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await this.exitPromise;
    clearTimeout(timer);
  }
}
