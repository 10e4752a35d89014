import { InvalidArgumentError, type Command } from 'commander';
import { existsSync } from 'node:fs';
import { journalPath } from '../../config/paths.js';
import { LOGONS_CURSOR, summarizeSessions, type OpenSession } from '../../collectors/sessions/ledger.js';
import { Journal, type StoredRecord } from '../../journal/journal.js';
import { resolveConfig } from '../../config/resolve.js';
import { action, withCommonOptions, type CommonOptions } from '../common.js';

/** Record types and the aliases users type; `all` means no filter. */
export const RECORD_TYPES = ['process', 'process-interval', 'break', 'work', 'input-events', 'usage-event', 'notification', 'journal-drop', 'software'];

interface RecordsOptions extends CommonOptions {
  type: string[];
  since?: string;
  format: 'jsonl' | 'table';
  limit?: number;
  summary?: 'sessions';
}

function parseType(value: string, previous: string[] = []): string[] {
  const types = value
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  for (const t of types) {
    if (t !== 'all' && !RECORD_TYPES.includes(t)) {
      throw new InvalidArgumentError(`unknown record type "${t}"; one of: all, ${RECORD_TYPES.join(', ')}`);
    }
  }
  return [...previous, ...types];
}

function parseSince(value: string): string {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new InvalidArgumentError(`"${value}" is not an ISO 8601 time`);
  return new Date(ms).toISOString();
}

function parseLimit(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

export function registerRecords(program: Command): void {
  withCommonOptions(program.command('records'))
    .description('print journal records')
    .option('-t, --type <types>', `record type(s), comma-separated: all, ${RECORD_TYPES.join(', ')}`, parseType)
    .option('-s, --since <iso>', 'only records that happened at or after this time', parseSince)
    .option(
      '-f, --format <format>',
      'jsonl or table',
      (v) => {
        if (v !== 'jsonl' && v !== 'table') throw new InvalidArgumentError('jsonl or table');
        return v;
      },
      'jsonl',
    )
    .option('-n, --limit <n>', 'at most this many records', parseLimit)
    .option('--summary <what>', 'print a summary instead of records: sessions (logon/logoff per user)', (v) => {
      if (v !== 'sessions') throw new InvalidArgumentError('sessions');
      return v;
    })
    .action(
      action((options: RecordsOptions) => {
        const { dataDir } = resolveConfig(options);
        const path = journalPath(dataDir);
        if (!existsSync(path)) {
          process.stderr.write(`usage-agent: no journal at ${path} (has the agent run with this data dir?)\n`);
          process.exitCode = 1;
          return;
        }
        // `records | head` closes the pipe early: that is the reader being done, not an error.
        process.stdout.on('error', (err: NodeJS.ErrnoException) => {
          if (err.code === 'EPIPE') process.exit(0);
          throw err;
        });
        const types = options.type && !options.type.includes('all') ? options.type : undefined;
        const journal = Journal.open(path, { readonly: true });
        if (options.summary === 'sessions') {
          try {
            // Uploaded records leave the journal: the sessions open now come from the logons
            // component's own bookkeeping (its journal cursor), so they show either way.
            const open = (journal.getCursor<OpenSession[]>(LOGONS_CURSOR) ?? []).map((o) => ({
              code: 15,
              time: new Date(o.since).toISOString(),
              user: o.user,
              display: o.display,
              session: o.session,
            }));
            printSessions([...journal.iterate({ types: ['usage-event'], since: options.since }), ...open], options.format);
          } finally {
            journal.close();
          }
          return;
        }
        try {
          const out = createWriter(options.format);
          let n = 0;
          for (const record of journal.iterate({ types, since: options.since })) {
            out.write(record);
            if (options.limit && ++n >= options.limit) break;
          }
          out.end();
        } finally {
          journal.close();
        }
      }),
    );
}

/** Logon/logoff (15/16) paired per user: one JSON line each, or a table. */
function printSessions(events: Array<{ code?: unknown; time: string; user?: unknown; display?: unknown; session?: unknown }>, format: 'jsonl' | 'table'): void {
  const rows = summarizeSessions(
    events.filter((e): e is typeof e & { code: number } => typeof e.code === 'number'),
    Date.now(),
  );
  if (format === 'jsonl') {
    for (const r of rows) process.stdout.write(`${JSON.stringify({ summary: 'sessions', ...r })}\n`);
    return;
  }
  const header = ['USER', 'SESSIONS', 'OPEN', 'SECONDS', 'FIRST LOGON', 'LAST LOGOFF', 'DISPLAYS'];
  const cells = rows.map((r) => [
    r.user,
    String(r.sessions),
    String(r.open),
    String(r.totalSeconds),
    r.firstLogon ?? '-',
    r.lastLogoff ?? '-',
    r.displays.join(',') || '-',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  for (const line of [header, ...cells])
    process.stdout.write(
      `${line
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd()}\n`,
    );
}

/** JSONL puts `type` and `seq` first so every line reads the same way; table is for people. */
function createWriter(format: 'jsonl' | 'table'): { write(r: StoredRecord): void; end(): void } {
  if (format === 'jsonl') {
    return {
      write: (r) => {
        // Documented order: type, seq, then the record's own fields as its collector emits them, time last.
        const { type, seq, time, ...rest } = r;
        process.stdout.write(`${JSON.stringify({ type, seq, ...rest, time })}\n`);
      },
      end: () => undefined,
    };
  }
  const rows: StoredRecord[] = [];
  return {
    write: (r) => void rows.push(r),
    end: () => process.stdout.write(formatTable(rows)),
  };
}

const TABLE_COLUMNS: Array<[string, (r: StoredRecord) => unknown]> = [
  ['SEQ', (r) => r.seq],
  ['TYPE', (r) => r.type],
  ['START', (r) => r.start ?? r.intervalStart ?? r.time],
  ['END', (r) => r.end ?? r.intervalEnd],
  ['USER', (r) => r.user],
  ['PID', (r) => r.pid],
  ['WHAT', (r) => r.command ?? r.application ?? (r.type === 'software' ? `${r.name} ${r.version}` : undefined) ?? r.product ?? r.message],
  ['SECONDS', (r) => r.elapsedSeconds ?? r.durationSeconds],
  ['CPU', (r) => r.cpuSeconds ?? sum(r.cpuUserSeconds, r.cpuSystemSeconds)],
  [
    'DETAIL',
    (r) =>
      r.breakType ??
      r.periodType ??
      r.change ??
      (r.code !== undefined ? `code ${r.code}` : undefined) ??
      (r.exitCode !== undefined && r.exitCode !== null ? `exit ${r.exitCode}` : undefined),
  ],
  ['SOURCE', (r) => r.source],
];

function sum(a: unknown, b: unknown): number | undefined {
  return typeof a === 'number' && typeof b === 'number' ? Math.round((a + b) * 1000) / 1000 : undefined;
}

export function formatTable(rows: StoredRecord[]): string {
  const cells = rows.map((r) =>
    TABLE_COLUMNS.map(([, get]) => {
      const v = get(r);
      return v === undefined || v === null ? '-' : String(v);
    }),
  );
  const header = TABLE_COLUMNS.map(([name]) => name);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) =>
    c
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), ...cells.map(line)].join('\n') + '\n';
}
