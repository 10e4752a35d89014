/**
 * The one configuration error of the agent and the server: the file, every problem found (so IT
 * fixes a file in one pass, not one error per restart) and the line printed before the process
 * exits with EX_CONFIG. Each loader words its message its own way (src/config/load.ts,
 * src/server/config.ts).
 */

/** sysexits.h EX_CONFIG: what service managers and IT scripts expect for a bad configuration. */
export const EX_CONFIG = 78;

/** One problem: the key path (empty, or a marker such as `(root)`, for the file as a whole) and what is wrong. */
export interface ConfigIssue {
  path: string;
  message: string;
}

export class ConfigError extends Error {
  readonly exitCode = EX_CONFIG;
  constructor(
    readonly file: string,
    readonly issues: readonly ConfigIssue[],
    message: string,
  ) {
    super(message);
    this.name = 'ConfigError';
  }

  /** The first offending key: what scripts and tests match on. */
  get keyPath(): string {
    return this.issues[0]?.path ?? '';
  }
}
