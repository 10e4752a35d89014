import { type Command, Option } from 'commander';
import type { ConfigOptions } from '../config/resolve.js';
import { ConfigError } from '../shared/config-error.js';

/**
 * The common flags, as src/config/resolve.ts takes them. Nothing here loads the config schema
 * (zod): the resident session command uses this module too (see src/session/config.ts).
 */
export type CommonOptions = ConfigOptions;

/** Every subcommand takes the same way to find its configuration and data. */
export function withCommonOptions(command: Command): Command {
  return command
    .option('-c, --config <file>', 'JSON configuration file (default: built-in defaults)', process.env.USAGE_AGENT_CONFIG)
    .option('-d, --data-dir <dir>', 'data directory holding the journal (overrides the config file)')
    .addOption(
      new Option('--log-level <level>', 'log level (overrides the config file)').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    );
}

/** Runs a command action, turning a ConfigError into one clear line and exit code 78. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void> | void): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      if (err instanceof ConfigError) {
        process.stderr.write(`usage-agent: ${err.message}\n`);
        process.exit(err.exitCode);
      }
      throw err;
    }
  };
}
