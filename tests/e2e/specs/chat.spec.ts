import { test, expect, expectExited, type PeerPage } from '../lib/fixtures';

test('three peers connect, chat, and keep chatting peer-to-peer after the server stops', async ({
  server,
  room,
  openPeers,
}) => {
  const peers = await openPeers('Alice', 'Bob', 'Carol');
  for (const peer of peers) await peer.join(room);

  const othersOf = (peer: PeerPage) => peers.filter((p) => p !== peer);
  for (const peer of peers) await peer.expectConnectedTo(othersOf(peer));

  // Everyone says something; Carol uses Enter instead of the Send button.
  const first = new Map(peers.map((p) => [p.name, `hello from ${p.name}`]));
  for (const peer of peers) await peer.sendChat(first.get(peer.name)!, peer.name === 'Carol' ? 'enter' : 'button');
  for (const peer of peers) {
    for (const sender of peers) await peer.expectMessagesFrom(sender.name, [first.get(sender.name)!]);
    await expect(peer.messages).toHaveCount(peers.length);
  }

  // Without the signaling server, the data channels still carry chat: the
  // messages never went through the server.
  await server.stop();
  expectExited(server);

  const second = new Map(peers.map((p) => [p.name, `still here, ${p.name} (no server)`]));
  for (const peer of peers) await peer.sendChat(second.get(peer.name)!);
  for (const peer of peers) {
    for (const sender of peers) {
      await peer.expectMessagesFrom(sender.name, [first.get(sender.name)!, second.get(sender.name)!]);
    }
    await expect(peer.messages).toHaveCount(2 * peers.length);
  }
  for (const peer of peers) await peer.expectConnectedTo(othersOf(peer));
});

test('names and messages are shown as text, never run as HTML', async ({ room, openPeers }) => {
  const payload = '<img src=x onerror=window.__xss=1>';
  const namePayload = '<img src=x onerror=window.__xssName=1>';
  const [mallory, victim] = await openPeers(namePayload, 'Victim');
  await mallory.join(room);
  await victim.join(room);
  await victim.expectConnectedTo([mallory]);
  await mallory.expectConnectedTo([victim]);

  await mallory.sendChat(payload);
  for (const peer of [mallory, victim]) {
    await peer.expectMessagesFrom(namePayload, [payload]);
    await expect(peer.chatLog.locator('img')).toHaveCount(0);
  }
  await expect(victim.participant(namePayload)).toContainText(namePayload);
  await expect(victim.participantList.locator('img')).toHaveCount(0);
  await expect(mallory.myName).toHaveText(namePayload);

  for (const peer of [mallory, victim]) {
    expect(await peer.page.evaluate(() => (window as unknown as Record<string, unknown>).__xss)).toBeUndefined();
    expect(await peer.page.evaluate(() => (window as unknown as Record<string, unknown>).__xssName)).toBeUndefined();
  }
});

test('the chat says who was already here and who joined later', async ({ room, openPeers }) => {
  const [ada, bo, cy] = await openPeers('Ada', 'Bo', 'Cy');
  await ada.join(room);
  await bo.join(room);
  await bo.expectConnectedTo([ada]);
  await cy.join(room);
  await cy.expectConnectedTo([ada, bo]);
  await expect(ada.chatLog.getByTestId('chat-system')).toHaveText(['Bo joined', 'Cy joined']);
  await expect(bo.chatLog.getByTestId('chat-system')).toHaveText(['Ada is here', 'Cy joined']);
  // (in peer-id order, which is random)
  await expect
    .poll(async () => (await cy.chatLog.getByTestId('chat-system').allInnerTexts()).sort())
    .toEqual(['Ada is here', 'Bo is here']);
});

test('a message reads as "name: text at time", in a chat region', async ({ room, openPeers }) => {
  const [ada, bo] = await openPeers('Ada', 'Bo');
  await ada.join(room);
  await bo.join(room);
  await bo.expectConnectedTo([ada]);
  await ada.sendChat('hello there', 'enter');
  await bo.expectMessagesFrom('Ada', ['hello there']);
  const chat = bo.page.getByRole('region', { name: 'Chat' });
  await expect(chat.getByTestId('chat-message')).toHaveText([/^Ada: hello there at \d\d:\d\d$/]);
});

test('web addresses in a message are links, and nothing else is', async ({ room, openPeers }) => {
  const [ada, bo] = await openPeers('Ada', 'Bo');
  await ada.join(room);
  await bo.join(room);
  await bo.expectConnectedTo([ada]);
  const text = 'see https://example.org/a?b=1, not javascript:alert(1) nor <a href="https://evil.test">x</a> ok';
  await ada.sendChat(text);
  for (const peer of [ada, bo]) {
    await peer.expectMessagesFrom('Ada', [text]);
    const links = peer.messagesFrom('Ada').getByTestId('chat-text').getByRole('link');
    await expect(links).toHaveCount(1);
    await expect(links).toHaveText('https://example.org/a?b=1');
    await expect(links).toHaveAttribute('href', 'https://example.org/a?b=1');
    await expect(links).toHaveAttribute('target', '_blank');
    await expect(links).toHaveAttribute('rel', /noopener/);
  }
});
