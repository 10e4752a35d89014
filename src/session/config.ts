import { Worker } from 'node:worker_threads';
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
 * flags), run in a short-lived worker thread. The session agent stays resident in every user
 * session for the whole day; the zod schema and its module graph cost it ~6 MB of RSS for good when
 * loaded in the main isolate, and are freed with the worker's isolate here (measured: 56 -> 50 MB
 * for a bare process; see src/session/README.md "Footprint").
 */
export async function resolveSessionConfig(options: SessionConfigOptions): Promise<{ config: AgentConfig; dataDir: string }> {
  const worker = new Worker(new URL('./config-worker.js', import.meta.url), {
    workerData: { config: options.config, dataDir: options.dataDir, logLevel: options.logLevel },
  });
  try {
    const msg = await new Promise<
      { ok: true; config: AgentConfig; dataDir: string } | { ok: false; configError: boolean; message: string; exitCode?: number }
    >((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`configuration worker exited with ${code}`)));
    });
    if (msg.ok) return { config: msg.config, dataDir: msg.dataDir };
    if (msg.configError) throw new SessionConfigError(msg.message, msg.exitCode ?? 78);
    throw new Error(msg.message);
  } finally {
    await worker.terminate();
  }
}
