import { test, expect, type Page } from '@playwright/test';

// Checks the test environment itself, without peerlink: two browser contexts
// connect a plain RTCPeerConnection and exchange a data-channel message inside
// the namespace. If this fails, every other e2e failure is the environment's
// (namespace, Chromium flags), not the app's.

/** Creates a peer connection in the page and returns its complete SDP (all candidates gathered). */
async function describe(page: Page, role: 'offer' | 'answer', remote?: string): Promise<string> {
  return page.evaluate(
    async ({ role, remote }) => {
      const w = window as unknown as { pc: RTCPeerConnection; got: Promise<string> };
      const pc = new RTCPeerConnection({ iceServers: [] });
      w.pc = pc;
      w.got = new Promise<string>((resolve) => {
        const listen = (dc: RTCDataChannel) => (dc.onmessage = (e) => resolve(String(e.data)));
        if (role === 'offer') {
          const dc = pc.createDataChannel('env');
          dc.onopen = () => dc.send(`hello from ${role}`);
          listen(dc);
        } else {
          pc.ondatachannel = (e) => {
            listen(e.channel);
            e.channel.onopen = () => e.channel.send(`hello from ${role}`);
          };
        }
      });
      const gathered = new Promise<void>((resolve) => {
        pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && resolve();
      });
      if (role === 'offer') {
        await pc.setLocalDescription(await pc.createOffer());
      } else {
        await pc.setRemoteDescription({ type: 'offer', sdp: remote! });
        await pc.setLocalDescription(await pc.createAnswer());
      }
      await gathered;
      return pc.localDescription!.sdp;
    },
    { role, remote },
  );
}

test('two browser contexts connect a plain RTCPeerConnection in the namespace', async ({ browser }) => {
  test.setTimeout(40_000);
  const contexts = await Promise.all([browser.newContext(), browser.newContext()]);
  try {
    const [a, b] = await Promise.all(contexts.map((c) => c.newPage()));
    const offer = await describe(a, 'offer');
    // Host candidates only (no STUN/TURN reachable): on the veth pair, or
    // mDNS names that stand for them.
    expect(offer).toMatch(/a=candidate:\S+ 1 udp \d+ (10\.77\.0\.\d+|[0-9a-f-]+\.local) \d+ typ host/);
    const answer = await describe(b, 'answer', offer);
    await a.evaluate((sdp) => (window as unknown as { pc: RTCPeerConnection }).pc.setRemoteDescription({ type: 'answer', sdp }), answer);

    // The message, or after 10 s what ICE was doing instead (a bare timeout
    // told nothing when this failed once in CI).
    const received = (page: Page) =>
      page.evaluate(async () => {
        const w = window as unknown as { pc: RTCPeerConnection; got: Promise<string> };
        const late = new Promise<string>((resolve) =>
          setTimeout(async () => {
            const lines: string[] = [];
            (await w.pc.getStats()).forEach((s) => {
              if (s.type === 'candidate-pair') lines.push(`pair ${s.state} nominated=${s.nominated} requests=${s.requestsSent}/${s.requestsReceived} responses=${s.responsesSent}/${s.responsesReceived}`);
              if (s.type === 'local-candidate' || s.type === 'remote-candidate') lines.push(`${s.type} ${s.candidateType} ${s.address}:${s.port}`);
            });
            resolve(`no message after 10 s: connection ${w.pc.connectionState}, ice ${w.pc.iceConnectionState}, sctp ${w.pc.sctp?.state}; ${lines.join('; ')}`);
          }, 10_000),
        );
        return Promise.race([w.got, late]);
      });
    expect(await received(a)).toBe('hello from answer');
    expect(await received(b)).toBe('hello from offer');
    for (const page of [a, b]) {
      await expect
        .poll(() => page.evaluate(() => (window as unknown as { pc: RTCPeerConnection }).pc.connectionState))
        .toBe('connected');
    }
  } finally {
    await Promise.all(contexts.map((c) => c.close()));
  }
});
