import { InvalidArgumentError, type Command } from 'commander';
import { resolve } from 'node:path';
import { resolveSocketPath } from '../../ipc/socket-file.js';
import { SessionAgent, defaultQueuePath, type InputMode } from '../../session/agent.js';
import { resolveSessionConfig } from '../../session/config.js';
import { createSessionLogger } from '../../session/log.js';
import { exitOnSignals } from '../../shared/shutdown.js';
import { action, withCommonOptions, type CommonOptions } from '../common.js';

interface SessionOptions extends CommonOptions {
  socket?: string;
  queue?: string;
  input: InputMode;
}

/**
 * `usage-agent session` stays resident in every user session, so the zod config schema is never
 * loaded into its main isolate: ../common.js does not load it, and the configuration is resolved
 * by the same resolveConfig() in a short-lived child process (src/session/config.ts).
 */
export function registerSession(program: Command): void {
  withCommonOptions(program.command('session'))
    .description("run the session agent in the user's graphical session (keyboard/mouse activity, focused application)")
    .option('--socket <path>', "the daemon's socket (default: session.socketPath, else <dataDir>/agent.sock)")
    .option('--queue <path>', 'local queue for records the daemon has not acknowledged yet (default: ~/.local/state/usage-agent/queue.db)')
    .option(
      '--input <mode>',
      'auto (XInput2 raw events on X11, else uiohook hooks, else idle-time polling), xinput2, hooks, or idle-poll',
      (v: string) => {
        if (v !== 'auto' && v !== 'xinput2' && v !== 'hooks' && v !== 'idle-poll') throw new InvalidArgumentError('auto, xinput2, hooks or idle-poll');
        return v;
      },
      'auto',
    )
    .action(
      action(async (options: SessionOptions) => {
        const { config, dataDir } = await resolveSessionConfig(options);
        const logger = createSessionLogger(config.log.level);
        const socketPath = options.socket ? resolve(options.socket) : resolveSocketPath(config, dataDir);
        const agent = new SessionAgent({
          config,
          socketPath,
          queuePath: options.queue ? resolve(options.queue) : defaultQueuePath(),
          logger,
          input: options.input,
        });
        try {
          await agent.start();
        } catch (err) {
          logger.fatal({ err }, 'session agent could not start');
          process.exit(1);
        }
        exitOnSignals((reason) => agent.stop(reason), { logger, signals: ['SIGTERM', 'SIGINT', 'SIGHUP'], failed: 'session agent shutdown failed' });
      }),
    );
}
