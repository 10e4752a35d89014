import { resolve } from 'node:path';
import { loadConfig, setPath } from './load.js';
import { defaultDataDir } from './paths.js';
import type { AgentConfig } from './schema.js';

/** How a command names its configuration and data: the flags every command takes. */
export interface ConfigOptions {
  config?: string;
  dataDir?: string;
  logLevel?: string;
}

export interface Resolved {
  config: AgentConfig;
  dataDir: string;
}

/** Loads the config file, applies flags (which win), and settles the data dir. */
export function resolveConfig(options: ConfigOptions, extraOverrides: Record<string, unknown> = {}): Resolved {
  const overrides: Record<string, unknown> = { ...extraOverrides };
  if (options.dataDir) overrides.dataDir = options.dataDir;
  if (options.logLevel) setPath(overrides, 'log.level', options.logLevel);
  const config = loadConfig(options.config, overrides);
  const dataDir = resolve(config.dataDir ?? defaultDataDir());
  return { config: { ...config, dataDir }, dataDir };
}
