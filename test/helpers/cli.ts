import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** dist/test/helpers -> dist/src/cli/usage-agent.js, whichever outDir the suite was built into. */
export const AGENT_BIN = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'usage-agent.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runAgentCli(args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): CliResult {
  const r: SpawnSyncReturns<string> = spawnSync(process.execPath, [AGENT_BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...options.env },
    timeout: options.timeoutMs ?? 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A temp dir removed when the test ends. */
export function tempDir(t: { after(fn: () => void): void }, prefix = 'usage-agent-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A temp dir removed when the test ends, and an empty `data` dir in it (the agent's data dir). */
export function tempDataDir(t: { after(fn: () => void): void }, prefix?: string): { dir: string; data: string } {
  const dir = tempDir(t, prefix);
  const data = join(dir, 'data');
  mkdirSync(data);
  return { dir, data };
}

/**
 * A copy of a module that imports node's own modules only, in a world-readable temp dir, so it runs
 * as any user (a fresh clone may sit below a directory only root can enter). Returns the copy's
 * path (`.mjs`); the dir is removed when the test ends, or at exit without a test context.
 */
export function runnableByAnyUser(module: string, t?: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'any-user-'));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  if (t) t.after(remove);
  else process.on('exit', remove);
  chmodSync(dir, 0o755);
  const copy = join(dir, basename(module).replace(/\.js$/, '.mjs'));
  copyFileSync(module, copy);
  return copy;
}
