/** The session socket's file: where it is, whether others can reach it, and a stale one left by a crashed daemon. */
import { existsSync, rmSync, statSync } from 'node:fs';
import { createConnection } from 'node:net';
import { defaultSocketPath } from '../config/paths.js';

/** Whether users other than the owner may pass through the directory (o+x). */
export function canOthersTraverse(dir: string): boolean {
  try {
    return (statSync(dir).mode & 0o001) !== 0;
  } catch {
    return false;
  }
}

/** A socket file left by a crashed daemon is removed; a live one means another daemon owns it. */
export async function removeStaleSocket(path: string): Promise<void> {
  if (!existsSync(path)) return;
  const alive = await new Promise<boolean>((resolve) => {
    const s = createConnection(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`another process is listening on ${path}`);
  rmSync(path, { force: true });
}

export function resolveSocketPath(config: { session: { socketPath?: string } }, dataDir: string): string {
  return config.session.socketPath ?? defaultSocketPath(dataDir);
}
