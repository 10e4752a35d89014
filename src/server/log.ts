/**
 * The per-request logger (fastify's `req.log`), created on first use. Fastify makes a pino child
 * logger for every request (binding reqId, and resetting the level, which rebuilds every log
 * method); request logging is off, so nearly every request would pay for a logger it never uses.
 * The child is made the first time the request logs.
 */
import type { Bindings, ChildLoggerOptions, Logger } from 'pino';

type Method = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

function call(logger: Logger, method: Method, args: unknown[]): void {
  (logger[method] as (...a: unknown[]) => void).apply(logger, args);
}

export class LazyChildLogger {
  private made: Logger | undefined;

  constructor(
    private readonly parent: Logger,
    private readonly bindings: Bindings,
    private readonly opts: ChildLoggerOptions,
  ) {}

  /** The child logger, made now if it was not yet. */
  get logger(): Logger {
    return (this.made ??= this.parent.child(this.bindings, this.opts));
  }

  get level(): string {
    return this.made?.level ?? this.opts.level ?? this.parent.level;
  }

  set level(level: string) {
    this.logger.level = level;
  }

  isLevelEnabled(level: string): boolean {
    return this.logger.isLevelEnabled(level);
  }

  fatal(...args: unknown[]): void {
    call(this.logger, 'fatal', args);
  }
  error(...args: unknown[]): void {
    call(this.logger, 'error', args);
  }
  warn(...args: unknown[]): void {
    call(this.logger, 'warn', args);
  }
  info(...args: unknown[]): void {
    call(this.logger, 'info', args);
  }
  debug(...args: unknown[]): void {
    call(this.logger, 'debug', args);
  }
  trace(...args: unknown[]): void {
    call(this.logger, 'trace', args);
  }
  silent(...args: unknown[]): void {
    call(this.logger, 'silent', args);
  }

  child(bindings: Bindings, opts?: ChildLoggerOptions): Logger {
    return this.logger.child(bindings, opts);
  }
}
