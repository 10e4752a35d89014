import type { Command } from 'commander';
import { checkServerFiles } from '../../config/load.js';
import { startDaemon } from '../../daemon/daemon.js';
import { createLogger } from '../../log/logger.js';
import { exitOnSignals } from '../../shared/shutdown.js';
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
        // A bug must not lose the buffered records: flush what we have, then let the service manager restart us.
        exitOnSignals((reason) => daemon.stop(reason), { logger, failed: 'shutdown failed', crash: { then: '; flushing journal and exiting' } });
      }),
    );
}
