#!/usr/bin/env node
/**
 * usage-server: the reference lease and collection server, and its admin commands.
 *
 *   usage-server [serve] [--config FILE] [--listen HOST] [--port N] [--db FILE]
 *   usage-server products list|add|set-seats ...
 *   usage-server agents list|revoke ...
 *   usage-server leases list|revoke ...
 *   usage-server allocations list|revoke ...
 *   usage-server report usage --from YYYY-MM-DD --to YYYY-MM-DD [--period day|week|month|year]... [--format csv|json]
 *   usage-server report log --from YYYY-MM-DD --to YYYY-MM-DD [--format csv|json]
 *   usage-server export log-files --dir DIR --from YYYY-MM-DD --to YYYY-MM-DD [--mode AllLogging|UserSummary]
 *   usage-server migrate --from FILE.db --to postgres://user@host:5432/name
 *   usage-server check-config --config FILE
 *   usage-server hash-token [TOKEN]     (sha256:<hex> for reports.adminTokens; the token from stdin if not given)
 *   usage-server openapi [--out FILE]
 *
 * Exit codes: 0 ok, 1 runtime failure, 2 usage error, 78 configuration error (EX_CONFIG).
 * The commands live in ./cli/ (serve, maintenance, admin, reports; common: what they share).
 */
import { Command } from 'commander';
import { SERVER_VERSION } from './version.js';
import { addAdminCommands } from './cli/admin.js';
import { addMaintenanceCommands } from './cli/maintenance.js';
import { addReportCommands } from './cli/reports.js';
import { addServeCommands } from './cli/serve.js';

const program = new Command()
  .name('usage-server')
  .description('Reference lease and collection server for usage-agent')
  .version(SERVER_VERSION)
  .showHelpAfterError()
  .exitOverride((err) => {
    process.exit(err.exitCode === 0 ? 0 : 2);
  });

addServeCommands(program);
addMaintenanceCommands(program);
addAdminCommands(program);
addReportCommands(program);

await program.parseAsync(process.argv);
