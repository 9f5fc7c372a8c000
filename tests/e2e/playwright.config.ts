import { defineConfig } from '@playwright/test';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './lib/chromium';

// Browsers gather no ICE candidates on loopback alone, and the machine's real
// interface is never a test target: the suite must run inside the private
// namespace of scripts/netns.sh (`npm test` and `make test-e2e` do that).
if (process.env.PEERLINK_NETNS !== '1') {
  throw new Error('run the e2e suite inside scripts/netns.sh: `make test-e2e`, or `npm test` in tests/e2e');
}

export default defineConfig({
  testDir: './specs',
  outputDir: './test-results',
  // The files tests write and download up to 200 MiB each there (2.3 GB in
  // all): kept only for the tests that failed.
  preserveOutput: 'failures-only',
  // Two cores, three browser contexts per test: one test at a time.
  workers: 1,
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  // A retry would hide a flaky connection; flakes are bugs here.
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  reporter: [['list'], ['./lib/summary-reporter.ts']],
  use: {
    browserName: 'chromium',
    headless: true,
    launchOptions: {
      executablePath: CHROMIUM_PATH,
      args: CHROMIUM_ARGS,
    },
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
  },
});
