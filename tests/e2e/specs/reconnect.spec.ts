import { test, expect, expectExited } from '../lib/fixtures';
import { PeerlinkServer } from '../lib/server';

test('after the server restarts, pages reconnect by themselves with the same ids, keep their links, and a newcomer joins', async ({
  server,
  room,
  openPeers,
}) => {
  const [alice, bob] = await openPeers('Alice', 'Bob');
  await alice.join(room);
  await bob.join(room);
  await alice.expectConnectedTo([bob]);
  await bob.expectConnectedTo([alice]);
  const bobIdAtAlice = await alice.participant('Bob').getAttribute('data-peer-id');
  const aliceIdAtBob = await bob.participant('Alice').getAttribute('data-peer-id');
  expect(bobIdAtAlice).toBeTruthy();
  expect(aliceIdAtBob).toBeTruthy();

  const port = new URL(server.origin).port;
  await server.stop();
  expectExited(server);
  for (const peer of [alice, bob]) {
    await expect(peer.status).toHaveAttribute('data-state', 'reconnecting');
  }

  // The same port, so the pages' own retries find it; nothing in the pages is touched.
  const restarted = await PeerlinkServer.start({ listen: `127.0.0.1:${port}` });
  try {
    for (const peer of [alice, bob]) {
      await peer.expectJoined();
      await expect(peer.status).toContainText(`In room “${room}”`);
    }
    // The links were kept: one entry each, still connected, under the same peer ids.
    await alice.expectConnectedTo([bob]);
    await bob.expectConnectedTo([alice]);
    await expect(alice.participant('Bob')).toHaveAttribute('data-peer-id', bobIdAtAlice!);
    await expect(bob.participant('Alice')).toHaveAttribute('data-peer-id', aliceIdAtBob!);

    // A newcomer can join through the restarted server and links with both.
    const [carol] = await openPeers('Carol');
    await carol.join(room);
    await carol.expectConnectedTo([alice, bob]);
    await alice.expectConnectedTo([bob, carol]);
    await bob.expectConnectedTo([alice, carol]);
    await carol.sendChat('hello after the restart');
    for (const peer of [alice, bob]) await peer.expectMessagesFrom('Carol', ['hello after the restart']);
    await alice.sendChat('welcome, Carol');
    for (const peer of [bob, carol]) await peer.expectMessagesFrom('Alice', ['welcome, Carol']);
  } finally {
    await restarted.stop();
  }
});
