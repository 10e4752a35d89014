/**
 * How the long-running commands end (usage-agent run, usage-agent session, usage-server serve):
 * the first of `signals` calls stop() once; the process exits 0 when it resolves and 1 when it
 * fails (logged). A second signal while stopping changes nothing: stop() is flushing what would
 * otherwise be lost. With `crash`, an uncaught exception or unhandled rejection is logged, stops
 * the process the same way and makes it exit 1, so the service manager restarts it.
 */

/** The logger methods used here (pino's, and the session agent's own). */
interface ShutdownLogger {
  fatal(fields: object, msg: string): void;
  error(msg: string): void;
}

export interface ShutdownOptions {
  logger: ShutdownLogger;
  /** Default SIGTERM and SIGINT. */
  signals?: readonly NodeJS.Signals[];
  /** Logged with the error when stop() fails. */
  failed: string;
  /** Also stop on a crash; the words after "uncaught exception" / "unhandled rejection" in its log line. */
  crash?: { then: string };
  /** Exit 1 if stopping takes longer than this. */
  forceExitAfterMs?: number;
  /** Just before exiting after a stop that succeeded (a last log line, a flush). */
  onStopped?: () => void;
}

export function exitOnSignals(stop: (reason: string) => Promise<void>, o: ShutdownOptions): void {
  let stopping = false;
  let exitCode = 0;
  const end = (reason: string): void => {
    if (stopping) return;
    stopping = true;
    if (o.forceExitAfterMs !== undefined) {
      setTimeout(() => {
        o.logger.error(`shutdown took longer than ${o.forceExitAfterMs! / 1000} s; exiting`);
        process.exit(1);
      }, o.forceExitAfterMs).unref();
    }
    stop(reason).then(
      () => {
        o.onStopped?.();
        process.exit(exitCode);
      },
      (err: unknown) => {
        o.logger.fatal({ err }, o.failed);
        process.exit(1);
      },
    );
  };
  for (const signal of o.signals ?? ['SIGTERM', 'SIGINT']) process.on(signal, () => end(signal));
  if (o.crash) {
    const then = o.crash.then;
    process.on('uncaughtException', (err) => {
      o.logger.fatal({ err }, `uncaught exception${then}`);
      exitCode = 1;
      end('uncaughtException');
    });
    process.on('unhandledRejection', (err) => {
      o.logger.fatal({ err }, `unhandled rejection${then}`);
      exitCode = 1;
      end('unhandledRejection');
    });
  }
}
