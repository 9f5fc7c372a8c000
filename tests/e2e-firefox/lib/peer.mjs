// One participant: its own browser context (a separate cookie jar, storage and
// OPFS, like a separate profile) in its own window of the shared Firefox, driven
// through the data-testid hooks that tests/e2e uses (tests/e2e/lib/peer-page.ts).

/** How long WebRTC may take to connect (tens of ms measured; CI machines are slow). */
export const CONNECT_TIMEOUT_MS = 20_000;
/** How long a page may take to show the outcome of one action. */
export const STATE_TIMEOUT_MS = 10_000;
/** How often poll() looks again. */
const POLL_INTERVAL_MS = 100;

/** `[data-testid="id"]`, plus more attribute selectors: tid('transfer', { 'data-path': 'a.bin' }). */
export function tid(id, attrs = {}) {
  return [`[data-testid=${JSON.stringify(id)}]`, ...Object.entries(attrs).map(([k, v]) => `[${k}=${JSON.stringify(v)}]`)].join('');
}

/**
 * Calls `read` until `ok(value)` holds and returns that value; fails after `timeout`
 * ms with the last value (or error) seen. The bounded wait on state that every
 * test uses instead of sleeping.
 */
export async function poll(read, ok, { timeout = STATE_TIMEOUT_MS, message = 'a condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  let lastError;
  for (;;) {
    try {
      last = await read();
      lastError = undefined;
      if (ok(last)) return last;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const seen = lastError ? `error: ${lastError.message}` : `last value: ${JSON.stringify(last)}`;
      throw new Error(`timed out after ${timeout} ms waiting for ${message} (${seen})`);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
}

export class Peer {
  /** What the page logged (console and uncaught errors), for failure reports. */
  consoleLog = [];

  constructor(context, page, name) {
    this.context = context;
    this.page = page;
    /** The display name this peer joins with. */
    this.name = name;
    page.on('console', (msg) => this.consoleLog.push(`[${msg.type()}] ${msg.text()}`));
    page.on('pageerror', (err) => this.consoleLog.push(`[pageerror] ${err.message ?? err}`));
  }

  /** A new browser context with one window, showing `url` with the app started. */
  static async open(browser, name, url) {
    const context = await browser.createBrowserContext();
    try {
      // A window, not a tab: two tabs of one window would leave one peer in a
      // background tab (throttled timers, no rendering of its videos).
      const page = await context.newPage({ type: 'window' });
      const peer = new Peer(context, page, name);
      await peer.load(url);
      return peer;
    } catch (err) {
      await context.close().catch(() => {});
      throw err;
    }
  }

  /**
   * Opens `url` and waits until the Wasm app runs: the static HTML already says
   * data-state="idle" with "Loading…"; the app replaces that text once started.
   */
  async load(url) {
    await this.page.goto(url);
    await poll(
      () => this.page.$eval(tid('status'), (s) => ({ state: s.dataset.state, text: s.textContent.trim() })),
      (s) => s.state === 'idle' && !s.text.startsWith('Loading'),
      { message: `${this.name}'s app to start` },
    );
  }

  /** Joins `room` with camera+mic ('video'), mic only ('voice') or no media ('chat'). */
  async join(room, mode) {
    await this.page.locator(tid(`mode-${mode}`)).click();
    await this.page.locator(tid('room-input')).fill(room);
    await this.page.locator(tid('name-input')).fill(this.name);
    await this.page.locator(tid('join-button')).click();
    await poll(
      () => this.page.evaluate(() => ({
        state: document.querySelector('[data-testid="status"]')?.dataset.state,
        me: document.querySelector('[data-testid="my-name"]')?.textContent,
      })),
      (s) => s.state === 'joined' && s.me === this.name,
      { message: `${this.name} to join ${room}` },
    );
    if (mode !== 'chat') {
      await poll(
        () => this.page.$eval(tid('local-tile'), (t) => t.hidden),
        (hidden) => hidden === false,
        { timeout: CONNECT_TIMEOUT_MS, message: `${this.name}'s own camera tile` },
      );
    }
  }

  /** The other participants this page lists: name, data-state, peer id. */
  participants() {
    return this.page.$$eval(`${tid('participants')} ${tid('participant')}`, (items) =>
      items.map((li) => ({ name: li.dataset.name, state: li.dataset.state, id: li.dataset.peerId })),
    );
  }

  /** Waits until exactly `others` are listed, each connected; returns their peer ids by name. */
  async expectConnectedTo(others) {
    const names = others.map((o) => o.name).sort();
    const list = await poll(
      () => this.participants(),
      (ps) => JSON.stringify(ps.map((p) => p.name).sort()) === JSON.stringify(names) && ps.every((p) => p.state === 'connected' && p.id),
      { timeout: CONNECT_TIMEOUT_MS, message: `${this.name} connected to ${names.join(', ')}` },
    );
    return Object.fromEntries(list.map((p) => [p.name, p.id]));
  }

  async sendChat(text) {
    await this.page.locator(tid('chat-input')).fill(text);
    await this.page.locator(tid('chat-send')).click();
  }

  /** The texts of the visible chat messages whose sender is `from`, in order. */
  messagesFrom(from) {
    return this.page.$$eval(
      `${tid('chat-log')} ${tid('chat-message', { 'data-from': from })}`,
      (items) =>
        items
          .map((m) => m.querySelector('[data-testid="chat-text"]'))
          .filter((t) => t?.checkVisibility())
          .map((t) => t.textContent),
    );
  }

  /** Waits until `from`'s messages are exactly `texts`, in order. */
  expectMessagesFrom(from, texts) {
    return poll(
      () => this.messagesFrom(from),
      (seen) => JSON.stringify(seen) === JSON.stringify(texts),
      { timeout: CONNECT_TIMEOUT_MS, message: `${this.name} to show ${JSON.stringify(texts)} from ${from}` },
    );
  }

  /** The value of `attr` on the first element matching `selector`, or null. */
  attribute(selector, attr) {
    return this.page.evaluate((sel, a) => document.querySelector(sel)?.getAttribute(a) ?? null, selector, attr);
  }

  /** Closes this peer's window and context (its storage goes with it). */
  async close() {
    await this.context.close();
  }
}

/** Closes every peer, even if some fail; used in `finally`/`after`. */
export async function closeAll(peers) {
  await Promise.allSettled(peers.filter(Boolean).map((p) => p.close()));
}

/** Prints what `peers` logged, after a failure. */
export function dumpLogs(peers) {
  for (const peer of peers.filter(Boolean)) {
    console.error(`--- ${peer.name}'s page log:\n${peer.consoleLog.join('\n') || '(nothing)'}`);
  }
}

/**
 * Runs `body` with fresh peers `names` on `server`'s page (each in its own context)
 * of `browser`, or of `browser[i]` for the i-th name when it is an array; closes
 * them after; on failure prints their logs and the server's.
 */
export async function withPeers(browser, server, names, body) {
  const peers = [];
  try {
    for (const [i, name] of names.entries()) {
      const own = Array.isArray(browser) ? browser[i] : browser;
      peers.push(await Peer.open(own, name, server.url('/')));
    }
    await body(peers);
  } catch (err) {
    dumpLogs(peers);
    console.error(`--- server output:\n${server.output.join('')}`);
    throw err;
  } finally {
    await closeAll(peers);
  }
}

/** `a` and `b` join `room` in `mode` and see each other connected; returns each one's ids by name. */
export async function joinPair(a, b, room, mode) {
  await a.join(room, mode);
  await b.join(room, mode);
  return [await a.expectConnectedTo([b]), await b.expectConnectedTo([a])];
}
