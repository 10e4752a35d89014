import { InvalidArgumentError, type Command } from 'commander';
import { resolve } from 'node:path';
import { resolveSocketPath } from '../../ipc/server.js';
import { createLogger } from '../../log/logger.js';
import { SessionAgent, defaultQueuePath, type InputMode } from '../../session/agent.js';
import { action, resolveConfig, withCommonOptions, type CommonOptions } from '../common.js';

interface SessionOptions extends CommonOptions {
  socket?: string;
  queue?: string;
  input: InputMode;
}

export function registerSession(program: Command): void {
  withCommonOptions(program.command('session'))
    .description("run the session agent in the user's graphical session (keyboard/mouse activity, focused application)")
    .option('--socket <path>', "the daemon's socket (default: session.socketPath, else <dataDir>/agent.sock)")
    .option('--queue <path>', 'local queue for records the daemon has not acknowledged yet (default: ~/.local/state/usage-agent/queue.db)')
    .option(
      '--input <mode>',
      'auto (hooks, else idle-time polling), hooks, or idle-poll',
      (v: string) => {
        if (v !== 'auto' && v !== 'hooks' && v !== 'idle-poll') throw new InvalidArgumentError('auto, hooks or idle-poll');
        return v;
      },
      'auto',
    )
    .action(
      action(async (options: SessionOptions) => {
        const { config, dataDir } = resolveConfig(options);
        const logger = createLogger(config.log.level, { name: 'usage-agent-session' });
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
        const shutdown = (signal: string) => {
          agent.stop(signal).then(
            () => process.exit(0),
            (err) => {
              logger.fatal({ err }, 'session agent shutdown failed');
              process.exit(1);
            },
          );
        };
        for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.once(s, () => shutdown(s));
      }),
    );
}
