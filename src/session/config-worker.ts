/**
 * Worker-thread entry: resolves the configuration (zod schema, file, flags) in its own V8 isolate,
 * posts the plain result and ends. See config.ts for why.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { resolveConfig, type CommonOptions } from '../cli/common.js';
import { ConfigError } from '../config/load.js';

try {
  parentPort!.postMessage({ ok: true, ...resolveConfig(workerData as CommonOptions) });
} catch (err) {
  parentPort!.postMessage(
    err instanceof ConfigError
      ? { ok: false, configError: true, message: err.message, exitCode: err.exitCode }
      : { ok: false, configError: false, message: String((err as Error)?.stack ?? err) },
  );
}
