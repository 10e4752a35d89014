import type { Command } from 'commander';
import { checkServerFiles } from '../../config/load.js';
import { startDaemon } from '../../daemon/daemon.js';
import { createLogger } from '../../log/logger.js';
import { resolveConfig } from '../../config/resolve.js';
import { action, withCommonOptions, type CommonOptions } from '../common.js';

export function registerRun(program: Command): void {
  withCommonOptions(program.command('run'))
    .description('run the agent daemon in the foreground (collect, journal, upload)')
    .action(
      action(async (options: CommonOptions) => {
        const { config, dataDir } = resolveConfig(options);
        checkServerFiles(config, options.config);
        const logger = createLogger(config.log.level);
        let daemon: Awaited<ReturnType<typeof startDaemon>>;
        try {
          daemon = await startDaemon(config, dataDir, logger);
        } catch (err) {
          logger.fatal({ err }, 'usage-agent could not start');
          process.exit(1);
        }
        const shutdown = (signal: string) => {
          daemon.stop(signal).then(
            () => process.exit(0),
            (err) => {
              logger.fatal({ err }, 'shutdown failed');
              process.exit(1);
            },
          );
        };
        process.once('SIGTERM', () => shutdown('SIGTERM'));
        process.once('SIGINT', () => shutdown('SIGINT'));
        // A bug must not lose the buffered records: flush what we have, then let the service manager restart us.
        process.on('uncaughtException', (err) => {
          logger.fatal({ err }, 'uncaught exception; flushing journal and exiting');
          daemon.stop('uncaughtException').finally(() => process.exit(1));
        });
        process.on('unhandledRejection', (err) => {
          logger.fatal({ err }, 'unhandled rejection; flushing journal and exiting');
          daemon.stop('unhandledRejection').finally(() => process.exit(1));
        });
      }),
    );
}
