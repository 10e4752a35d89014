import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { chmodSync, createWriteStream, readdirSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { AGENT_BIN, runAgentCli } from './cli.js';
import { killChild } from './x11.js';

export interface Proc {
  child: ChildProcess;
  output(): string;
  waitForOutput(re: RegExp, timeoutMs?: number): Promise<void>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Starts `usage-agent ARGS`, teeing stdout+stderr to logFile (so privacy tests can scan it).
 * `wrap` runs it through another command (e.g. inside a mount namespace, test/helpers/nss.ts).
 */
export function startAgentProcess(
  args: string[],
  logFile: string,
  options: SpawnOptions & { wrap?: (command: string, args: string[]) => [string, string[]] } = {},
): Proc {
  const { wrap, ...spawnOptions } = options;
  const [command, argv] = wrap ? wrap(process.execPath, [AGENT_BIN, ...args]) : [process.execPath, [AGENT_BIN, ...args]];
  const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'], ...spawnOptions });
  const log = createWriteStream(logFile, { flags: 'a' });
  let text = '';
  const waiters: Array<() => void> = [];
  const onData = (d: Buffer) => {
    text += d.toString();
    log.write(d);
    for (const w of [...waiters]) w();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  return {
    child,
    output: () => text,
    waitForOutput: (re, timeoutMs = 20_000) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (re.test(text)) {
            clearTimeout(timer);
            waiters.splice(waiters.indexOf(check), 1);
            resolve();
          }
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(check), 1);
          reject(new Error(`timed out waiting for ${re} in output:\n${text.slice(-3000)}`));
        }, timeoutMs);
        waiters.push(check);
        check();
      }),
    stop: async (signal = 'SIGTERM') => {
      await killChild(child, signal, 10_000);
      await new Promise<void>((r) => log.end(() => r()));
    },
  };
}

export function writeConfig(dir: string, config: Record<string, unknown>): string {
  const path = join(dir, 'config.json');
  writeFileSync(path, JSON.stringify(config, null, 2));
  return path;
}

/** Every record of the given types in the data dir's journal, via the real CLI. */
export function readRecords(dataDir: string, types: string): Array<Record<string, any>> {
  const r = runAgentCli(['records', '--data-dir', dataDir, '--type', types]);
  if (r.code !== 0) throw new Error(`records failed: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, any>);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every file below dir (privacy tests search all of them). */
export function allFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...allFiles(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/**
 * A `wrap` for startAgentProcess that runs the agent as another user (uid, gid). The checkout may
 * sit below a directory only root can enter (a mktemp dir, as in a fresh clone), so the project is
 * bind-mounted at a world-traversable path in a private mount namespace and run from there.
 */
export function asUser(uid: number, gid: number, mountPoint: string): (command: string, args: string[]) => [string, string[]] {
  chmodSync(mountPoint, 0o755);
  const projectRoot = resolve(AGENT_BIN, '..', '..', '..', '..');
  return (command, args) => {
    const [bin, ...rest] = args;
    const script = `mount --bind "$1" "$2" && mp="$2" node="$3" bin="$4" && shift 4 && exec setpriv --reuid=${uid} --regid=${gid} --clear-groups "$node" "$mp/$bin" "$@"`;
    return [
      'unshare',
      ['--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', projectRoot, mountPoint, command, relative(projectRoot, bin), ...rest],
    ];
  };
}
