import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ConfigOptions } from '../config/resolve.js';
import type { AgentConfig } from '../config/schema.js';
import { ConfigError, type ConfigIssue } from '../shared/config-error.js';

/**
 * The same resolution as every other command (src/config/resolve.ts resolveConfig: zod schema, file,
 * flags), run in a short-lived child process. The session agent stays resident in every user
 * session for the whole day: the zod schema and its module graph would cost it ~6 MB of heap for
 * good in the main isolate, and a worker thread, although its isolate is freed, leaves ~5 MB of the
 * node binary's pages mapped in this process (its bootstrap touches them). A child process costs
 * this process nothing after it exits (measured: see src/session/README.md "Footprint").
 */
export async function resolveSessionConfig(options: ConfigOptions): Promise<{ config: AgentConfig; dataDir: string }> {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./config-child.js', import.meta.url)), JSON.stringify(options)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  let msg:
    | { ok: true; config: AgentConfig; dataDir: string }
    | { ok: false; configError?: { file: string; issues: ConfigIssue[]; message: string }; message?: string };
  try {
    msg = JSON.parse(out);
  } catch {
    throw new Error(`configuration helper exited with ${code} and no result`);
  }
  if (msg.ok) return { config: msg.config, dataDir: msg.dataDir };
  // The same ConfigError as in-process resolution throws: the command's action() exits 78 with it.
  if (msg.configError) throw new ConfigError(msg.configError.file, msg.configError.issues, msg.configError.message);
  throw new Error(msg.message);
}
