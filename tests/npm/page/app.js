// Uses only what `import ... from 'peerlink'` offers, like any consumer would.
import init, { Room, releaseFile } from 'peerlink';

const $ = (id) => document.querySelector(`[data-testid="${id}"]`);
const status = (state, text) => {
  $('status').dataset.state = state;
  $('status').textContent = text;
};

function line(list, text, attrs = {}) {
  const li = document.createElement('li');
  li.textContent = text;
  Object.assign(li.dataset, attrs);
  $(list).append(li);
  return li;
}

async function main() {
  await init();
  const params = new URLSearchParams(location.search);
  const serverUrl = new URL('/ws', location.href);
  serverUrl.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';

  status('joining', 'Joining…');
  const room = await Room.join({
    serverUrl: serverUrl.href,
    room: params.get('room') ?? 'npm-test',
    name: params.get('name') ?? 'Someone',
  });
  // For the test to reach the raw RTCPeerConnection and the facade's stats.
  window.room = room;
  $('my-id').textContent = room.id;

  room.on('peer-joined', ({ peer, name }) => line('peers', name, { peer }));
  room.on('peer-left', ({ peer }) => {
    document.querySelector(`[data-testid="peers"] [data-peer="${peer}"]`)?.remove();
    document.querySelector(`video[data-peer="${peer}"]`)?.remove();
  });
  room.on('peer-state', ({ peer, state }) => {
    const li = document.querySelector(`[data-testid="peers"] [data-peer="${peer}"]`);
    if (li) li.dataset.state = state;
  });
  room.on('chat', ({ message }) => line('chat-log', `${message.name}: ${message.text}`));
  const kinds = (stream) => stream.getTracks().map((t) => t.kind).sort().join(',');
  room.on('remote-stream', ({ peer, stream, screen }) => {
    const video = document.createElement('video');
    Object.assign(video, { autoplay: true, playsInline: true, muted: true, srcObject: stream });
    Object.assign(video.dataset, { peer, stream: stream.id, kind: screen ? 'screen' : 'camera', tracks: kinds(stream) });
    $('remote-videos').append(video);
  });
  // A voice-only caller turning its camera on (or off) changes the same stream.
  room.on('remote-stream-changed', ({ stream }) => {
    const video = document.querySelector(`video[data-stream="${stream.id}"]`);
    if (video) {
      video.dataset.tracks = kinds(stream);
      video.dataset.changes = String(Number(video.dataset.changes ?? 0) + 1);
    }
  });
  room.on('remote-stream-removed', ({ streamId }) => {
    document.querySelector(`video[data-stream="${streamId}"]`)?.remove();
  });
  // Files: every offer gets a row with Accept/Reject; rows follow the transfer.
  const row = (peer, key) =>
    document.querySelector(`[data-testid="transfers"] [data-key="${peer}/${key.direction}/${key.id}"]`);
  room.on('transfer', (event) => {
    const { peer, key } = event;
    let li = row(peer, key);
    if (!li) {
      li = line('transfers', '', { key: `${peer}/${key.direction}/${key.id}`, direction: key.direction });
    }
    li.dataset.state = event.kind;
    if (event.kind === 'offered') {
      li.textContent = `${event.offer.name} (${event.offer.size} bytes) `;
      for (const [label, answer] of [['Accept', () => room.acceptFile(peer, key.id)], ['Reject', () => room.rejectFile(peer, key.id)]]) {
        const button = document.createElement('button');
        button.textContent = label;
        button.dataset.testid = `${label.toLowerCase()}-file`;
        button.addEventListener('click', () => { answer(); li.querySelectorAll('button').forEach((b) => b.remove()); });
        li.append(button);
      }
    } else if (event.kind === 'progress') {
      li.dataset.bytesDone = String(event.progress.bytesDone);
    } else if (event.kind === 'completed') {
      li.dataset.verified = String(event.verified);
    }
  });
  room.on('file-received', ({ offer, blob }) => {
    const li = line('received-files', '');
    const link = document.createElement('a');
    Object.assign(link, { href: URL.createObjectURL(blob), download: offer.name, textContent: offer.name });
    Object.assign(link.dataset, { testid: 'received-file', size: String(blob.size) });
    const release = document.createElement('button');
    Object.assign(release, { type: 'button', textContent: 'Release' });
    release.dataset.testid = 'release-file';
    release.addEventListener('click', async () => {
      release.dataset.released = String(await releaseFile(blob));
    });
    li.append(link, release);
  });
  $('file-input').addEventListener('change', () => {
    for (const file of $('file-input').files) {
      for (const result of room.sendFileToAll(file)) {
        if ('error' in result) status('error', `${result.error.name}: ${result.error.message}`);
      }
    }
  });
  room.on('warning', ({ error }) => console.warn(`peerlink warning ${error.name}: ${error.message}`));

  $('chat-form').addEventListener('submit', (event) => {
    event.preventDefault();
    try {
      const sent = room.sendChat($('chat-input').value);
      line('chat-log', `${sent.name}: ${sent.text}`, { mine: '' });
      $('chat-input').value = '';
    } catch (error) {
      status('error', `${error.name}: ${error.message}`);
    }
  });

  // getDisplayMedia needs a user gesture: a button.
  $('share-screen').addEventListener('click', async () => {
    try {
      if ($('share-screen').dataset.sharing === 'true') await room.stopScreenShare();
      else {
        await room.startScreenShare();
        $('share-screen').dataset.sharing = 'true';
      }
    } catch (error) {
      status('error', `${error.name}: ${error.message}`);
    }
  });
  room.on('screen-share-ended', () => {
    $('share-screen').dataset.sharing = 'false';
  });

  if (params.get('media') !== 'none') {
    $('self-view').srcObject = await room.startMedia({ audio: true, video: { width: 640, height: 480 } });
  }
  status('joined', `In room ${room.roomName} as ${room.name}`);
}

main().catch((error) => status('error', `${error.name}: ${error.message}`));
