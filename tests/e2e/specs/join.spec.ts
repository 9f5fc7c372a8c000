import { test, expect, expectExited } from '../lib/fixtures';

test('joining while the signaling server is down shows an error naming it', async ({ server, room, openPeers }) => {
  const [peer] = await openPeers('Dana');
  await server.stop();
  expectExited(server);

  await peer.submitJoin(room);
  await expect(peer.status).toHaveAttribute('data-state', 'error');
  await expect(peer.status).toContainText(/signaling server/i);
  // Still on the join form, so the user can try again.
  await expect(peer.joinForm).toBeVisible();
});

test('the room comes from the URL, and the share link leads back to it', async ({ server, room, openPeers }) => {
  const [peer] = await openPeers('Erin');
  await peer.open(server.url(`/?room=${encodeURIComponent(room)}`));
  await expect(peer.roomInput).toHaveValue(room);

  // Join with the prefilled room: only the name is typed.
  await peer.nameInput.fill(peer.name);
  await peer.joinButton.click();
  await peer.expectJoined();

  const href = await peer.shareLink.getAttribute('href');
  expect(href, 'share-link has an href').not.toBeNull();
  const shared = new URL(href!, server.url('/'));
  expect(shared.origin).toBe(server.origin);
  expect(shared.searchParams.get('room')).toBe(room);

  // Someone opening the shared link lands in the same room.
  const [guest] = await openPeers('Frank');
  await guest.open(shared.href);
  await expect(guest.roomInput).toHaveValue(room);
  await guest.nameInput.fill(guest.name);
  await guest.joinButton.click();
  await guest.expectJoined();
  await guest.expectConnectedTo([peer]);
  await peer.expectConnectedTo([guest]);
});

test('only the join form shows before joining, only the room after, and the form again after leaving', async ({ room, openPeers }) => {
  const [peer] = await openPeers('Gus');
  const roomPanel = peer.page.getByTestId('room-panel');
  const joinPanel = peer.page.getByTestId('join-panel');
  await expect(joinPanel).toBeVisible();
  await expect(roomPanel).toBeHidden();
  await expect(peer.page.getByTestId('leave-button')).toBeHidden();
  await expect(peer.chatInput).toBeHidden();

  await peer.join(room);
  await expect(roomPanel).toBeVisible();
  await expect(joinPanel).toBeHidden();
  // The tab says which room it is.
  await expect(peer.page).toHaveTitle(`${room} — peerlink`);

  await peer.page.getByTestId('leave-button').click();
  await expect(peer.status).toHaveAttribute('data-state', 'idle');
  await expect(joinPanel).toBeVisible();
  await expect(roomPanel).toBeHidden();
  await expect(peer.page).toHaveTitle('peerlink');
});

test('a long name never makes the page scroll sideways', async ({ room, openPeers }) => {
  const long = 'W'.repeat(64);
  const [ada, other] = await openPeers('Ada', long);
  await ada.page.getByTestId('mode-video').check();
  await ada.join(room);
  await other.page.getByTestId('mode-video').check();
  await other.join(room);
  await ada.expectConnectedTo([other]);
  await ada.page.getByTestId('file-target').selectOption({ label: long });
  await expect(ada.page.getByTestId('remote-tile')).toHaveCount(1, { timeout: 20_000 });
  for (const width of [1280, 390]) {
    for (const peer of [ada, other]) {
      await peer.page.setViewportSize({ width, height: 844 });
      const overflow = await peer.page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      expect(overflow, `${peer.name.slice(0, 8)}… at ${width} px: page wider than the window by`).toBeLessThanOrEqual(0);
    }
  }
});
