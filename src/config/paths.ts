import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root: dist/src/config/paths.js -> three levels up. */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** A git checkout (npm start from a clone) keeps its data beside it; an installed agent in /var/lib. */
export function isCheckout(root = PACKAGE_ROOT): boolean {
  return existsSync(join(root, '.git')) || existsSync(join(root, 'tsconfig.json'));
}

export function defaultDataDir(): string {
  if (process.env.USAGE_AGENT_DATA_DIR) return resolve(process.env.USAGE_AGENT_DATA_DIR);
  return isCheckout() ? join(PACKAGE_ROOT, 'var') : '/var/lib/usage-agent';
}

export function journalPath(dataDir: string): string {
  return join(dataDir, 'journal.db');
}

export function statusPath(dataDir: string): string {
  return join(dataDir, 'status.json');
}

export function pidPath(dataDir: string): string {
  return join(dataDir, 'usage-agent.pid');
}

export function defaultSocketPath(dataDir: string): string {
  return join(dataDir, 'agent.sock');
}
