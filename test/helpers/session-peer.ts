/**
 * Test helper: a raw session-channel peer (the daemon's protocol by hand, no session agent), for
 * tests that need to misbehave. As root it can read any uid's token file and so speak for any uid.
 */
import { readFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { IPC_VERSION, lineReader } from '../../src/ipc/protocol.js';

export type Msg = { kind: string; [k: string]: unknown };

export interface RawSession {
  socket: Socket;
  messages: Msg[];
  send(m: Record<string, unknown>): void;
  next(kind: string, after?: number): Promise<Msg>;
}

export function connect(socketPath: string): RawSession {
  const socket = createConnection(socketPath);
  const messages: Msg[] = [];
  const waiters = new Set<() => void>();
  socket.on(
    'data',
    lineReader(
      (l) => {
        messages.push(JSON.parse(l) as Msg);
        for (const w of waiters) w();
      },
      () => socket.destroy(),
    ),
  );
  socket.on('error', () => undefined);
  socket.on('close', () => {
    messages.push({ kind: 'closed' });
    for (const w of waiters) w();
  });
  const s: RawSession = {
    socket,
    messages,
    send: (m) => socket.write(`${JSON.stringify({ v: IPC_VERSION, ...m })}\n`),
    next: (kind, after = 0) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${kind} within 60 s; got ${JSON.stringify(messages)}`)), 60_000);
        const look = () => {
          const m = messages.slice(after).find((x) => x.kind === kind || (x.kind === 'closed' && kind !== 'closed'));
          if (!m) return;
          waiters.delete(look);
          clearTimeout(timer);
          resolve(m);
        };
        waiters.add(look);
        look();
      }),
  };
  return s;
}

/** hello -> challenge -> auth with the uid's token file -> welcome (or the daemon's error). */
export async function session(socketPath: string, uid: number, queueId: string): Promise<RawSession & { welcome: Msg }> {
  const s = connect(socketPath);
  await new Promise<void>((r) => s.socket.once('connect', () => r()));
  s.send({ kind: 'hello', uid, pid: process.pid, queueId, input: { mode: 'none' } });
  const challenge = await s.next('challenge');
  s.send({ kind: 'auth', token: readFileSync(String(challenge.tokenPath), 'utf8') });
  const welcome = s.messages.find((m) => m.kind === 'error') ?? (await Promise.race([s.next('welcome'), s.next('error')]));
  return Object.assign(s, { welcome });
}
