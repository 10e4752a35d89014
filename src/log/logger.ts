import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * JSON lines on stdout for the daemon (journald stores them as they are); commands whose stdout
 * is their output (records, status) log to stderr instead.
 */
export function createLogger(level: string, options: { name?: string; toStderr?: boolean } = {}): Logger {
  return pino(
    {
      name: options.name ?? 'usage-agent',
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ fd: options.toStderr ? 2 : 1, sync: true }),
  );
}
