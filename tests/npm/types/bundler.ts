// The `peerlink/bundler` entry (wasm-pack --target bundler) has the same API and
// types, without init().
import { Room, type RoomEventMap } from 'peerlink/bundler';

export async function joinWithBundler(): Promise<Room> {
  const room = await Room.join({ serverUrl: 'wss://example.org/ws', room: 'r', name: 'n' });
  const onChat = (event: RoomEventMap['chat']): void => console.log(event.message.text);
  room.on('chat', onChat);
  // @ts-expect-error -- no such event
  room.on('chatt', onChat);
  return room;
}
