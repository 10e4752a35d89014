/**
 * Child-process entry: resolves the configuration (zod schema, file, flags) in its own short-lived
 * process, prints the plain result as one JSON line on stdout and exits. See config.ts for why.
 *   node config-child.js '{"config":..., "dataDir":..., "logLevel":...}'
 */
import { resolveConfig, type CommonOptions } from '../cli/common.js';
import { ConfigError } from '../config/load.js';

let reply: object;
try {
  reply = { ok: true, ...resolveConfig(JSON.parse(process.argv[2] ?? '{}') as CommonOptions) };
} catch (err) {
  reply =
    err instanceof ConfigError
      ? { ok: false, configError: true, message: err.message, exitCode: err.exitCode }
      : { ok: false, configError: false, message: String((err as Error)?.stack ?? err) };
}
process.stdout.write(`${JSON.stringify(reply)}\n`);
