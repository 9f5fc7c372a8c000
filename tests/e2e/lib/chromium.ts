/**
 * How the tests start Debian's Chromium (Playwright must not download its own
 * browser: there is no internet here). Flags: shared/TOOLCHAIN.md.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

export const CHROMIUM_PATH = process.env.PEERLINK_CHROMIUM ?? '/usr/bin/chromium';

/**
 * The flags the wasm tests give Chromium (webdriver.json at the repository root,
 * one list for every suite): no GPU; nothing that phones home (only loopback and
 * our private veth exist, and anything that tries to reach out retries all the
 * time); getUserMedia → a fake camera and microphone without a permission prompt,
 * getDisplayMedia → a fake 800×600 screen. Plus --no-sandbox, which Playwright
 * passes anyway unless chromiumSandbox is set, so the list works as root on its own.
 */
const WEBDRIVER_JSON = path.resolve(__dirname, '..', '..', '..', 'webdriver.json');
export const CHROMIUM_ARGS: string[] = [
  '--no-sandbox',
  ...(JSON.parse(readFileSync(WEBDRIVER_JSON, 'utf8'))['goog:chromeOptions'].args as string[]),
];
