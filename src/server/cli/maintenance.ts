/** Commands that run beside the server: `migrate` (SQLite to PostgreSQL), `hash-token`, `openapi`. */
import { existsSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { openApiText } from '../../protocol/openapi.js';
import { adminTokenHash } from '../plugins/auth.js';
import { isPostgresUrl } from '../storage/store.js';
import { copySqliteToPostgres } from '../storage/copy.js';
import { openPostgresStore, redactUrl, type PostgresStore } from '../storage/postgres/store.js';
import { openSqliteStore, type SqliteStore } from '../storage/sqlite/store.js';
import { SERVER_VERSION } from '../version.js';
import { fail, table } from './common.js';

export function addMaintenanceCommands(program: Command): void {
  program
    .command('migrate')
    .description('copy a SQLite database into an empty PostgreSQL database (stop the servers using the file first); agents keep their tokens')
    .requiredOption('--from <file>', 'the SQLite database file')
    .requiredOption('--to <url>', 'the PostgreSQL database, postgres://user@host:5432/name')
    .action(async (opts: { from: string; to: string }) => {
      if (isPostgresUrl(opts.from) || !existsSync(opts.from)) fail(`--from must be an existing SQLite database file (got ${opts.from})`, 2);
      if (!isPostgresUrl(opts.to)) fail(`--to must be a postgres:// URL (got ${opts.to})`, 2);
      let from: SqliteStore | undefined;
      let to: PostgresStore | undefined;
      try {
        from = await openSqliteStore(opts.from);
        to = await openPostgresStore(opts.to, { poolSize: 2 });
        const r = await copySqliteToPostgres(from, to);
        process.stdout.write(table(r.tables.map((t) => ({ table: t.table, sqlite: t.source, postgres: t.target, ok: t.source === t.target ? 'yes' : 'NO' }))));
        process.stdout.write(`migrated ${opts.from} to ${redactUrl(opts.to)}: every table has the same number of rows\n`);
      } catch (err) {
        fail(`migrate failed, nothing was written to the target: ${(err as Error).message}`, 1);
      } finally {
        await from?.close();
        await to?.close();
      }
    });

  program
    .command('hash-token')
    .description('print sha256:<hex> of an admin token, to put in reports.adminTokens instead of the token (reads it from stdin when not given)')
    .argument('[token]', 'the token (prefer stdin: an argument stays in the shell history)')
    .action(async (given: string | undefined) => {
      let token = given;
      if (token === undefined) {
        const chunks: Buffer[] = [];
        for await (const c of process.stdin) chunks.push(c as Buffer);
        token = Buffer.concat(chunks).toString('utf8').split(/\r?\n/, 1)[0]!;
      }
      if (token.length < 16) fail('an admin token must be at least 16 characters', 2);
      process.stdout.write(`sha256:${adminTokenHash(token).toString('hex')}\n`);
    });

  program
    .command('openapi')
    .description('print the OpenAPI 3.1 document of the protocol (or write it to a file)')
    .option('-o, --out <file>', 'write to this file instead of stdout')
    .action((opts: { out?: string }) => {
      if (opts.out) writeFileSync(opts.out, openApiText(SERVER_VERSION));
      else process.stdout.write(openApiText(SERVER_VERSION));
    });
}
