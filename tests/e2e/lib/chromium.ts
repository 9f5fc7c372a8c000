/**
 * How the tests start Debian's Chromium (Playwright must not download its own
 * browser: there is no internet here). Flags: shared/TOOLCHAIN.md.
 */
export const CHROMIUM_PATH = process.env.PEERLINK_CHROMIUM ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  // Playwright already passes --headless (the new headless mode) and, unless
  // chromiumSandbox is set, --no-sandbox; repeated here so the list matches
  // webdriver.json and works as root on its own.
  '--no-sandbox',
  '--disable-gpu',
  // Only loopback and our private veth exist: anything that tries to phone
  // home fails and, without these, retries all the time.
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  // getUserMedia → a fake camera and microphone without a permission prompt;
  // getDisplayMedia → a fake 800×600 screen.
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
];
