import { writeSync } from 'node:fs';
import type { Logger } from '../log/logger.js';

const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity } as const;
type Level = keyof typeof LEVELS;

function serialize(v: unknown): unknown {
  if (v instanceof Error) {
    const e = v as Error & { code?: unknown };
    return { type: e.name, message: e.message, stack: e.stack, ...(e.code !== undefined ? { code: e.code } : {}) };
  }
  return v;
}

/**
 * The session agent's logger: the same JSON lines as src/log/logger.ts (pino: `level` label,
 * `time` ISO, `pid`, `name`, `msg`, fields, `err` serialized), written synchronously to stdout,
 * without loading pino into a process that stays resident in every user session (measured in the
 * activity benchmark; see src/session/README.md "Footprint"). Only the methods the session agent,
 * its queue and its link call are implemented: `(fields, msg)` or `(msg)` at each level.
 */
export function createSessionLogger(level: string, name = 'usage-agent-session'): Logger {
  const min = LEVELS[(level in LEVELS ? level : 'info') as Level];
  const make = (label: Exclude<Level, 'silent'>) =>
    LEVELS[label] < min
      ? () => undefined
      : (a?: unknown, b?: unknown) => {
          const fields = typeof a === 'object' && a !== null ? (a as Record<string, unknown>) : undefined;
          const msg = fields ? b : a;
          const line: Record<string, unknown> = { level: label, time: new Date().toISOString(), pid: process.pid, name };
          if (fields) for (const [k, v] of Object.entries(fields)) line[k] = serialize(v);
          if (msg !== undefined) line.msg = String(msg);
          try {
            writeSync(1, `${JSON.stringify(line)}\n`);
          } catch {
            /* stdout gone (EPIPE): logging must never stop the agent */
          }
        };
  const logger = {
    level,
    trace: make('trace'),
    debug: make('debug'),
    info: make('info'),
    warn: make('warn'),
    error: make('error'),
    fatal: make('fatal'),
    isLevelEnabled: (l: string) => LEVELS[l as Level] >= min,
    child: () => logger,
    flush: () => undefined,
  };
  return logger as unknown as Logger;
}
