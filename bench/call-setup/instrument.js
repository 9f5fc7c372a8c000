// Injected into every page of the benchmark (peerlink and baseline alike) before
// the page's own scripts run (Playwright addInitScript). It times the same
// things on both pages without touching either page's code:
//
// - start: a click on [data-testid=join-button] (capturing listener on window,
//   so it runs before the page's own handlers);
// - firstFrame: the first remote video frame presented, from
//   requestVideoFrameCallback on the first [data-testid=remote-video] element;
// - milestones for the breakdown, by wrapping getUserMedia, WebSocket and
//   RTCPeerConnection (the wrappers return the real objects, so `instanceof`
//   and every method behave as before).
//
// Times are performance.timeOrigin + performance.now(), so marks from the
// two pages of a run share one clock.
(() => {
  const now = () => performance.timeOrigin + performance.now();
  const toEpoch = (t) => performance.timeOrigin + t;
  const bench = {
    start: undefined,
    firstFrame: undefined,
    marks: [],
    /** Every RTCPeerConnection the page made, for getStats at the end. */
    pcs: [],
  };
  Object.defineProperty(window, '__bench', { value: bench });

  /** Video RTP counters of every connection (for the breakdown: keyframes, PLIs). */
  bench.videoStats = async () => {
    const out = { inbound: [], outbound: [] };
    for (const pc of bench.pcs) {
      (await pc.getStats()).forEach((s) => {
        if (s.kind !== 'video') return;
        if (s.type === 'inbound-rtp') {
          out.inbound.push({
            packetsReceived: s.packetsReceived, framesReceived: s.framesReceived,
            framesDecoded: s.framesDecoded, keyFramesDecoded: s.keyFramesDecoded,
            framesDropped: s.framesDropped, pliCount: s.pliCount, firCount: s.firCount,
            nackCount: s.nackCount, frameWidth: s.frameWidth,
          });
        } else if (s.type === 'outbound-rtp') {
          out.outbound.push({
            framesSent: s.framesSent, framesEncoded: s.framesEncoded, keyFramesEncoded: s.keyFramesEncoded,
            pliCount: s.pliCount, firCount: s.firCount, frameWidth: s.frameWidth,
            qualityLimitationReason: s.qualityLimitationReason,
          });
        }
      });
    }
    return out;
  };
  const mark = (what, detail) => bench.marks.push({ t: now(), what, ...(detail ? { detail } : {}) });

  window.addEventListener(
    'click',
    (event) => {
      if (bench.start === undefined && event.target?.closest?.('[data-testid=join-button]')) {
        bench.start = now();
        mark('click join');
      }
    },
    { capture: true },
  );

  // --- first remote frame -------------------------------------------------
  const watched = new WeakSet();
  const watch = (video) => {
    if (watched.has(video)) return;
    watched.add(video);
    mark('remote <video> added');
    video.addEventListener('loadedmetadata', () => mark('video loadedmetadata'), { once: true });
    video.addEventListener('playing', () => mark('video playing'), { once: true });
    video.requestVideoFrameCallback((cbNow, meta) => {
      if (bench.firstFrame !== undefined) return;
      bench.firstFrame = toEpoch(meta.presentationTime);
      bench.firstFrameCallback = toEpoch(cbNow);
      bench.firstFrameSize = [meta.width, meta.height];
      mark('first frame presented');
    });
  };
  const scan = (root) => {
    if (root.matches?.('video[data-testid=remote-video]')) watch(root);
    root.querySelectorAll?.('video[data-testid=remote-video]').forEach(watch);
  };
  new MutationObserver((records) => {
    for (const r of records) r.addedNodes.forEach(scan);
  }).observe(document, { childList: true, subtree: true });

  // --- media --------------------------------------------------------------
  const md = navigator.mediaDevices;
  if (md?.getUserMedia) {
    const gum = md.getUserMedia.bind(md);
    md.getUserMedia = (constraints) => {
      mark('getUserMedia called');
      return gum(constraints).then((stream) => {
        mark('getUserMedia resolved');
        return stream;
      });
    };
  }

  // --- signaling ----------------------------------------------------------
  /** "offer audio,video,application" from an SDP; "candidate" for candidates. */
  const describe = (data) => {
    if (!data || typeof data !== 'object') return 'signal';
    const sdp = data.sdp ?? data.description?.sdp;
    const type = data.sdp_type ?? data.type ?? data.description?.type;
    if (typeof sdp === 'string') {
      const media = [...sdp.matchAll(/^m=(\w+)/gm)].map((m) => m[1]).join(',');
      return `${type} [${media}]`;
    }
    if ('candidate' in data) return 'candidate';
    return data.kind ?? 'signal';
  };
  const signalCounts = { out: 0, in: 0 };
  const OrigWS = window.WebSocket;
  const origSend = OrigWS.prototype.send;
  OrigWS.prototype.send = function send(payload) {
    if (typeof payload === 'string') {
      try {
        const msg = JSON.parse(payload);
        if (msg.type === 'signal') {
          signalCounts.out += 1;
          const what = describe(msg.data);
          if (what !== 'candidate' || signalCounts.out <= 40) mark(`sent ${what}`);
        } else {
          mark(`sent ${msg.type}`);
        }
      } catch {
        /* not ours to judge */
      }
    }
    return origSend.call(this, payload);
  };
  function WrappedWebSocket(...args) {
    const ws = new OrigWS(...args);
    mark('WebSocket created');
    ws.addEventListener('open', () => mark('WebSocket open'));
    ws.addEventListener('message', (event) => {
      try {
        const msg = JSON.parse(event.data);
        if (msg.type === 'signal') {
          signalCounts.in += 1;
          mark(`got ${describe(msg.data)}`);
        } else {
          mark(`got ${msg.type}`);
        }
      } catch {
        /* ignore */
      }
    });
    return ws;
  }
  WrappedWebSocket.prototype = OrigWS.prototype;
  Object.setPrototypeOf(WrappedWebSocket, OrigWS);
  window.WebSocket = WrappedWebSocket;

  // --- peer connections ---------------------------------------------------
  const OrigPC = window.RTCPeerConnection;
  let pcCount = 0;
  function WrappedPC(...args) {
    const pc = new OrigPC(...args);
    const n = ++pcCount;
    bench.pcs.push(pc);
    mark('RTCPeerConnection created', { pc: n });
    pc.addEventListener('negotiationneeded', () => mark('negotiationneeded', { pc: n }));
    pc.addEventListener('signalingstatechange', () => mark(`signaling ${pc.signalingState}`, { pc: n }));
    pc.addEventListener('icegatheringstatechange', () => mark(`gathering ${pc.iceGatheringState}`, { pc: n }));
    pc.addEventListener('iceconnectionstatechange', () => mark(`ice ${pc.iceConnectionState}`, { pc: n }));
    pc.addEventListener('connectionstatechange', () => mark(`connection ${pc.connectionState}`, { pc: n }));
    pc.addEventListener('track', (e) => mark(`track ${e.track.kind}`, { pc: n }));
    return pc;
  }
  WrappedPC.prototype = OrigPC.prototype;
  Object.setPrototypeOf(WrappedPC, OrigPC);
  window.RTCPeerConnection = WrappedPC;
  for (const name of ['setLocalDescription', 'setRemoteDescription']) {
    const orig = OrigPC.prototype[name];
    OrigPC.prototype[name] = function (...args) {
      const what = args[0] ? describe(args[0]) : '(implicit)';
      return orig.apply(this, args).then((r) => {
        mark(`${name} done ${args[0] ? what : describe(this.localDescription)}`);
        return r;
      });
    };
  }
  const addTrack = OrigPC.prototype.addTrack;
  OrigPC.prototype.addTrack = function (track, ...streams) {
    mark(`addTrack ${track.kind}`);
    return addTrack.call(this, track, ...streams);
  };
})();
