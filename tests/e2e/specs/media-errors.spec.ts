import { chromium } from '@playwright/test';
import { expect, test } from '../lib/fixtures';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../lib/chromium';
import { PeerPage } from '../lib/peer-page';

/**
 * A denied camera or an absent device is explained on the page, and the user stays
 * in the room (chat keeps working). Each case needs its own browser, started with
 * different media flags.
 */
const cases = [
  {
    what: 'a denied camera and microphone',
    // The fake UI answers every permission prompt with "Block".
    args: [...CHROMIUM_ARGS.filter((a) => !a.startsWith('--use-fake-ui')), '--use-fake-ui-for-media-stream=deny'],
    message: /permission .* was denied/i,
    // The browser remembers a "Block": the page says how to undo it.
    hint: /allow it for this site in the browser/i,
  },
  {
    what: 'no camera or microphone at all',
    // No fake devices, and this machine has none.
    args: CHROMIUM_ARGS.filter((a) => a !== '--use-fake-device-for-media-stream'),
    message: /no matching camera or microphone/i,
    hint: undefined,
  },
];

for (const { what, args, message, hint } of cases) {
  test(`${what} is explained and the user stays in the room`, async ({ server, room, openPeers }) => {
    const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args });
    try {
      const context = await browser.newContext();
      const page = await context.newPage();
      const ada = new PeerPage(page, 'Ada');
      await ada.open(server.url('/'));
      await page.getByTestId('mode-video').check();
      await ada.join(room);
      const error = page.getByTestId('media-error');
      await expect(error).toBeVisible();
      await expect(error).toHaveText(message);
      if (hint) await expect(error).toHaveText(hint);
      await expect(page.getByTestId('local-tile')).toBeHidden();

      // Still in the room: chat with a peer that has working devices.
      const [bo] = await openPeers('Bo');
      await bo.page.getByTestId('mode-chat').check();
      await bo.join(room);
      await ada.expectConnectedTo([bo]);
      await ada.sendChat('no camera here, but I can type');
      await bo.expectMessagesFrom('Ada', ['no camera here, but I can type']);
    } finally {
      await browser.close();
    }
  });
}
