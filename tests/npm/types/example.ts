// A consumer's TypeScript, checked with `tsc --noEmit` (strict) against the
// package's declarations. Every `@ts-expect-error` line must be an error: if the
// declarations were loose (`any`) or wrong, tsc fails on the unused directive.
import init, {
  Room,
  enumerateDevices,
  releaseFile,
  storedDownloads,
  discardStoredDownload,
  type ChatMessage,
  type StoredDownload,
  type DeviceInfo,
  type FileSendResult,
  type JoinOptions,
  type MediaState,
  type PeerInfo,
  type PeerlinkError,
  type PeerStats,
  type RejectCode,
  type RoomEvent,
  type RoomEventMap,
  type TransferKey,
  type TransferProgress,
} from 'peerlink';

/** `true` exactly when T is `any`. */
type IsAny<T> = 0 extends 1 & T ? true : false;
/** Compiles only when T is not `any`. */
function notAny<T>(_value: T, _proof: IsAny<T> extends false ? true : never): void {}

function show(text: string): void {
  document.body.append(text);
}

export async function example(file: File): Promise<void> {
  await init();

  const options: JoinOptions = { serverUrl: 'wss://example.org/ws', room: 'team', name: 'Ada' };
  const room: Room = await Room.join(options);
  await Room.join({ ...options, password: 'secret' });
  // @ts-expect-error -- `name` is required
  await Room.join({ serverUrl: 'wss://example.org/ws', room: 'team' });
  // @ts-expect-error -- a password is a string
  await Room.join({ ...options, password: 42 });

  const id: string = room.id;
  const roomName: string = room.roomName;
  const left: boolean = room.left;
  show(`${id} ${room.name} ${roomName} ${left}`);
  // @ts-expect-error -- getters are read-only
  room.id = 'someone-else';

  const peers: PeerInfo[] = room.peers();
  for (const peer of peers) {
    const state: RTCPeerConnectionState = peer.state;
    show(`${peer.name}: ${state}`);
  }
  notAny(peers, true);

  // Events: the payload type follows the event name.
  room.on('peer-joined', (event) => show(`${event.name} (${event.peer}) joined`));
  room.on('peer-state', ({ peer, state }) => show(`${peer}: ${state satisfies RTCPeerConnectionState}`));
  room.on('chat', ({ message }) => {
    const m: ChatMessage = message;
    show(`${m.name}: ${m.text} at ${new Date(m.timeMs).toISOString()}`);
    notAny(m, true);
  });
  room.on('remote-stream', ({ peer, stream, screen }) => {
    const video = document.createElement('video');
    video.srcObject = stream satisfies MediaStream;
    video.dataset.peer = peer;
    video.dataset.screen = String(screen satisfies boolean);
  });
  room.on('remote-stream-changed', ({ stream, screen }) => {
    show(`${stream.getVideoTracks().length} video tracks, screen: ${screen satisfies boolean}`);
  });
  room.on('peer-media', ({ state }) => {
    const media: MediaState = state;
    show(`${media.mic} ${media.camera} ${media.screenStream ?? 'no screen'}`);
  });
  room.on('transfer', (event) => {
    const key: TransferKey = event.key;
    switch (event.kind) {
      case 'offered':
        if (event.offer.size < 1e9) room.acceptFile(event.peer, key.id);
        else room.rejectFile(event.peer, key.id);
        break;
      case 'progress': {
        const p: TransferProgress = event.progress;
        show(`${p.bytesDone}/${p.bytesTotal} eta ${p.etaMs ?? '?'}`);
        break;
      }
      case 'completed':
        show(`verified: ${event.verified}`);
        break;
      case 'cancelled':
        show(`cancelled by ${event.by satisfies 'local' | 'remote'}: ${event.reason ?? ''}`);
        break;
      default:
        // @ts-expect-error -- only 'offered' has an offer
        show(event.offer.name);
    }
  });
  room.on('file-received', ({ offer, blob }) => {
    const url = URL.createObjectURL(blob satisfies Blob);
    show(`${offer.name} (${offer.mimeType}, ${offer.size} bytes): ${url}`);
    void releaseFile(blob).then((released: boolean) => show(`released: ${released}`));
  });
  room.on('warning', ({ error }) => show(`${error.name}: ${error.message}`));
  const onChat = (event: RoomEventMap['chat']): void => show(event.message.text);
  room.on('chat', onChat);
  room.off('chat', onChat);
  // @ts-expect-error -- no such event
  room.on('peer-joind', () => {});
  // @ts-expect-error -- a chat event has no `stream`
  room.on('chat', (event) => show(event.stream.id));
  // @ts-expect-error -- the listener must fit the event's payload
  room.on('peer-left', (event: RoomEventMap['chat']) => show(event.message.text));
  const anyEvent = (event: RoomEvent): string => event.type;
  show(anyEvent({ type: 'screen-share-ended' }));

  const sent: ChatMessage = room.sendChat('hello');
  show(sent.id);
  // @ts-expect-error -- text only
  room.sendChat({ text: 'hello' });

  // Media.
  const local: MediaStream = await room.startMedia({ audio: true, video: { width: 640, frameRate: 15 } });
  await room.startMedia();
  await room.startMedia({ audio: { deviceId: 'mic-2' } });
  // @ts-expect-error -- width is a number
  await room.startMedia({ video: { width: '640px' } });
  const devices: DeviceInfo[] = await enumerateDevices();
  const camera = devices.find((d) => d.kind === 'videoinput');
  if (camera) await room.switchDevice('videoinput', camera.deviceId);
  // @ts-expect-error -- outputs cannot be switched
  await room.switchDevice('audiooutput', 'speaker');
  const micOn: boolean = room.setMicEnabled(false);
  room.setCameraEnabled(true);
  const screen: MediaStream = await room.startScreenShare();
  await room.stopScreenShare();
  await room.stopMedia();
  show(`${local.id} ${screen.id} ${micOn}`);

  // Files.
  const results: FileSendResult[] = room.sendFileToAll(file);
  for (const result of results) {
    if ('error' in result) show(`${result.peer}: ${result.error.name}`);
    else room.cancelTransfer(result.peer, { direction: 'outgoing', id: result.id });
  }
  const transferId: number = room.sendFile('peer-1', file, 'folder/notes.txt');
  const progress: TransferProgress | undefined = room.transferProgress('peer-1', { direction: 'outgoing', id: transferId });
  show(`${progress?.bytesDone ?? 0}`);
  // @ts-expect-error -- direction is 'incoming' or 'outgoing'
  room.cancelTransfer('peer-1', { direction: 'up', id: transferId });

  // Stats and the raw RTCPeerConnection.
  const stats: PeerStats = await room.stats('peer-1');
  const frames: number = stats.framesDecoded;
  // @ts-expect-error -- rttMs is null until measured
  const rtt: number = stats.rttMs;
  show(`${frames} ${rtt} ${stats.localCandidateType ?? 'none'}`);
  notAny(stats, true);
  const pc: RTCPeerConnection | undefined = room.peerConnection('peer-1');
  await pc?.getStats();

  // Errors: narrow by name.
  try {
    await Room.join(options);
  } catch (e) {
    const error = e as PeerlinkError;
    if (error.name === 'Rejected') {
      const code: RejectCode = error.code;
      show(code);
    } else if (error.name === 'SignalingUnreachable') {
      show(error.url);
    } else {
      // @ts-expect-error -- only Rejected errors carry a code
      show(error.code);
    }
    // @ts-expect-error -- not a peerlink error name
    if (error.name === 'NotAllowedError') show('never');
  }

  room.leave();
  // What a reload left to continue, before joining again.
  const waiting: StoredDownload[] = await storedDownloads();
  for (const d of waiting) {
    show(`${d.relativePath ?? d.name}: ${d.bytes} of ${d.size} since ${new Date(d.writtenMs).toISOString()}`);
    const gone: boolean = await discardStoredDownload(d.key);
    show(String(gone));
    // @ts-expect-error -- the key is a string
    void discardStoredDownload(d.bytes);
  }
  {
    // Explicit resource management: leaving at the end of the block.
    using scoped = await Room.join(options);
    show(scoped.id);
  }
}
