import { defineConfig } from '@playwright/test';

// Fault tests: two browsers on two network "hosts" joined by one veth, with
// packet loss and link cuts injected between them. The whole run happens inside
// scripts/two-hosts.sh (scripts/test-faults.sh and `make test-faults` do that),
// which provides the hosts, the Chromium wrappers and $PEERLINK_IN_HOST.
if (!process.env.PEERLINK_IN_HOST || !process.env.PEERLINK_CHROMIUM_A || !process.env.PEERLINK_CHROMIUM_B) {
  throw new Error('run the fault tests inside scripts/two-hosts.sh: `make test-faults`, or scripts/test-faults.sh');
}

export default defineConfig({
  testDir: './faults',
  // Not under ./test-results: the main suite empties that folder when it starts.
  outputDir: './faults/test-results',
  // Two cores, two browsers moving 64–128 MiB each test; and the hosts and
  // their link are shared: one test at a time.
  workers: 1,
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  // A retry would hide a flaky recovery; flakes are bugs here.
  retries: 0,
  timeout: 180_000,
  expect: { timeout: 10_000 },
  reporter: [['list'], ['./lib/summary-reporter.ts']],
  use: {
    trace: 'retain-on-failure',
    screenshot: 'off',
  },
});
