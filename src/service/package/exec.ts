import { execFileSync } from 'node:child_process';

/** Runs a build step, logging its command line; throws with its output when it fails. */
export function run(cmd: string, args: string[], cwd: string, log: (l: string) => void, env: NodeJS.ProcessEnv = process.env): string {
  log(`$ ${cmd} ${args.join(' ')}`);
  return execFileSync(cmd, args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
}
