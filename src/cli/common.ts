import { Command, Option } from 'commander';
import { resolve } from 'node:path';
import { ConfigError, loadConfig, setPath } from '../config/load.js';
import { defaultDataDir } from '../config/paths.js';
import type { AgentConfig } from '../config/schema.js';

export interface CommonOptions {
  config?: string;
  dataDir?: string;
  logLevel?: string;
}

/** Every subcommand takes the same way to find its configuration and data. */
export function withCommonOptions(command: Command): Command {
  return command
    .option('-c, --config <file>', 'JSON configuration file (default: built-in defaults)', process.env.USAGE_AGENT_CONFIG)
    .option('-d, --data-dir <dir>', 'data directory holding the journal (overrides the config file)')
    .addOption(
      new Option('--log-level <level>', 'log level (overrides the config file)').choices([
        'fatal',
        'error',
        'warn',
        'info',
        'debug',
        'trace',
        'silent',
      ]),
    );
}

export interface Resolved {
  config: AgentConfig;
  dataDir: string;
}

/** Loads the config file, applies flags (which win), and settles the data dir. */
export function resolveConfig(options: CommonOptions, extraOverrides: Record<string, unknown> = {}): Resolved {
  const overrides: Record<string, unknown> = { ...extraOverrides };
  if (options.dataDir) overrides.dataDir = options.dataDir;
  if (options.logLevel) setPath(overrides, 'log.level', options.logLevel);
  const config = loadConfig(options.config, overrides);
  const dataDir = resolve(config.dataDir ?? defaultDataDir());
  return { config: { ...config, dataDir }, dataDir };
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
