/**
 * Child-process entry: resolves the configuration (zod schema, file, flags) in its own short-lived
 * process, prints the plain result as one JSON line on stdout and exits. See config.ts for why.
 *   node config-child.js '{"config":..., "dataDir":..., "logLevel":...}'
 */
import { resolveConfig, type ConfigOptions } from '../config/resolve.js';
import { ConfigError } from '../shared/config-error.js';

let reply: object;
try {
  reply = { ok: true, ...resolveConfig(JSON.parse(process.argv[2] ?? '{}') as ConfigOptions) };
} catch (err) {
  reply =
    err instanceof ConfigError
      ? { ok: false, configError: { file: err.file, issues: err.issues, message: err.message } }
      : { ok: false, message: String((err as Error)?.stack ?? err) };
}
process.stdout.write(`${JSON.stringify(reply)}\n`);
