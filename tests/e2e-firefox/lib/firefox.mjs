// Debian's Firefox ESR driven by puppeteer-core over WebDriver BiDi. puppeteer-core
// never downloads a browser: it starts /usr/bin/firefox-esr with a fresh temporary
// profile (deleted again by browser.close()).
import { after, before } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import puppeteer from 'puppeteer-core';
import { PeerlinkServer } from './server.mjs';

export const FIREFOX_PATH = process.env.PEERLINK_FIREFOX ?? '/usr/bin/firefox-esr';

/**
 * The prefs of webdriver-firefox.json, plus what a test browser with no network needs.
 *
 * ICE needs no pref here. Like Chromium, Firefox gathers no candidate on loopback
 * (media.peerconnection.ice.loopback is false), so it needs scripts/netns.sh's veth;
 * there it offers its host candidate as an mDNS name (<uuid>.local; a fake-media
 * grant does not lift that), which the peer in the same namespace resolves, or it
 * learns the address as peer-reflexive from the first connectivity check. Checked
 * with getStats: chat-only and video pairs both succeed that way.
 */
export const FIREFOX_PREFS = {
  // getUserMedia → a fake camera and microphone, without a permission prompt.
  'media.navigator.streams.fake': true,
  'media.navigator.permission.disabled': true,
  // No autoplay pref: the click on "Join" gives the page the user activation that
  // Firefox's default policy wants before remote <video>s play with sound.
  // Nothing on the machine to phone home to (the namespace has no way out).
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
};

/** Puppeteer's own bound for one protocol call (a page evaluate hashing 24 MiB included). */
const PROTOCOL_TIMEOUT_MS = 60_000;

/**
 * Firefox with `downloads` as its download folder (what a page saves goes there,
 * without asking; the caller removes it).
 */
export async function launchFirefox(downloads) {
  if (process.env.PEERLINK_NETNS !== '1') {
    throw new Error('run the Firefox e2e suite inside scripts/netns.sh: `make test-e2e-firefox`, or `npm test` in tests/e2e-firefox');
  }
  return puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX_PATH,
    headless: true,
    extraPrefsFirefox: {
      ...FIREFOX_PREFS,
      'browser.download.folderList': 2,
      'browser.download.dir': downloads,
      'browser.download.useDownloadDir': true,
      'browser.download.always_ask_before_handling_new_types': false,
    },
    protocolTimeout: PROTOCOL_TIMEOUT_MS,
    // Firefox's own output only when asked for (it is noisy).
    dumpio: process.env.PEERLINK_FIREFOX_DUMPIO === '1',
  });
}

/** node:test has no default bound for hooks: starting or stopping both may take this long. */
const SETUP_TIMEOUT_MS = 60_000;

/**
 * Inside a `describe`: a real server and a Firefox for its tests, started before
 * them and stopped after. Returns `{ server, browser }`, filled in by then.
 */
export function serverAndFirefox() {
  const env = { server: undefined, browser: undefined, downloads: undefined };
  before(async () => {
    env.downloads = mkdtempSync(path.join(os.tmpdir(), 'peerlink-ff-downloads-'));
    env.server = await PeerlinkServer.start();
    env.browser = await launchFirefox(env.downloads);
  }, { timeout: SETUP_TIMEOUT_MS });
  after(async () => {
    await env.browser?.close();
    await env.server?.stop();
    if (env.downloads) rmSync(env.downloads, { recursive: true, force: true });
  }, { timeout: SETUP_TIMEOUT_MS });
  return env;
}
