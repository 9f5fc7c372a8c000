// Debian's Chromium driven by puppeteer-core (CDP), beside the suite's Firefox, for
// the tests where a Chromium user and a Firefox user meet. puppeteer-core never
// downloads a browser: it starts /usr/bin/chromium with a fresh temporary profile
// (deleted again by browser.close()).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import puppeteer from 'puppeteer-core';
import { REPO_ROOT } from './server.mjs';

export const CHROMIUM_PATH = process.env.PEERLINK_CHROMIUM ?? '/usr/bin/chromium';

/**
 * The flags the wasm tests give Chromium (webdriver.json: no GPU, nothing that
 * phones home, a fake camera, microphone and screen without prompts), plus
 * --no-sandbox for root. See shared/TOOLCHAIN.md.
 */
export function chromiumArgs() {
  const webdriver = JSON.parse(readFileSync(path.join(REPO_ROOT, 'webdriver.json'), 'utf8'));
  return ['--no-sandbox', ...webdriver['goog:chromeOptions'].args];
}

/** Puppeteer's own bound for one protocol call (a page evaluate hashing a file included). */
const PROTOCOL_TIMEOUT_MS = 60_000;
/** node:test has no default bound for hooks. */
const SETUP_TIMEOUT_MS = 60_000;

export async function launchChromium() {
  if (process.env.PEERLINK_NETNS !== '1') {
    throw new Error('run the Firefox e2e suite inside scripts/netns.sh: `make test-e2e-firefox`, or `npm test` in tests/e2e-firefox');
  }
  return puppeteer.launch({
    browser: 'chrome',
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: chromiumArgs(),
    protocolTimeout: PROTOCOL_TIMEOUT_MS,
    dumpio: process.env.PEERLINK_CHROMIUM_DUMPIO === '1',
  });
}

/**
 * Inside a `describe` that already has `serverAndFirefox()`'s `env`: a Chromium
 * for its tests too, as `env.chromium`, started before them and closed after.
 */
export function withChromium(env) {
  before(async () => {
    env.chromium = await launchChromium();
  }, { timeout: SETUP_TIMEOUT_MS });
  after(async () => {
    await env.chromium?.close();
  }, { timeout: SETUP_TIMEOUT_MS });
  return env;
}
