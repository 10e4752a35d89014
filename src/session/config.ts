import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { AgentConfig } from '../config/schema.js';

export interface SessionConfigOptions {
  config?: string;
  dataDir?: string;
  logLevel?: string;
}

/** A configuration error, with the exit code the CLI uses for it (78, EX_CONFIG). */
export class SessionConfigError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/**
 * The same resolution as every other command (src/cli/common.ts resolveConfig: zod schema, file,
 * flags), run in a short-lived child process. The session agent stays resident in every user
 * session for the whole day: the zod schema and its module graph would cost it ~6 MB of heap for
 * good in the main isolate, and a worker thread, although its isolate is freed, leaves ~5 MB of the
 * node binary's pages mapped in this process (its bootstrap touches them). A child process costs
 * this process nothing after it exits (measured: see src/session/README.md "Footprint").
 */
export async function resolveSessionConfig(options: SessionConfigOptions): Promise<{ config: AgentConfig; dataDir: string }> {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./config-child.js', import.meta.url)), JSON.stringify(options)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  let msg: { ok: true; config: AgentConfig; dataDir: string } | { ok: false; configError: boolean; message: string; exitCode?: number };
  try {
    msg = JSON.parse(out);
  } catch {
    throw new Error(`configuration helper exited with ${code} and no result`);
  }
  if (msg.ok) return { config: msg.config, dataDir: msg.dataDir };
  if (msg.configError) throw new SessionConfigError(msg.message, msg.exitCode ?? 78);
  throw new Error(msg.message);
}
