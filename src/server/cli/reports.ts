/** `report usage|log` and `export log-files`. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { LOG_MODES, logFiles, logToCsv, REPORT_PERIODS, summariesToCsv, usageReport, type LogMode, type ReportPeriod } from '../reports/index.js';
import { common, day, fail, withStore, type CommonOpts } from './common.js';

export function addReportCommands(program: Command): void {
  // ---- reports -------------------------------------------------------------------------------
  const report = program.command('report').description('usage reports');
  const reportArgs = (cmd: Command) =>
    common(cmd)
      .requiredOption('--from <date>', 'first day (YYYY-MM-DD, UTC)', day)
      .requiredOption('--to <date>', 'last day, inclusive (YYYY-MM-DD, UTC)', day)
      .option('--format <format>', 'csv|json', 'csv')
      .option('--product <id>', 'only this product');
  type ReportOpts = CommonOpts & { from: string; to: string; format: string; product?: string };
  const checkReportOpts = (opts: ReportOpts) => {
    if (opts.format !== 'csv' && opts.format !== 'json') fail('--format must be csv or json', 2);
    if (opts.from > opts.to) fail('--from is after --to', 2);
  };

  reportArgs(
    report
      .command('usage')
      .description(
        'summary per product per UTC day, ISO week, month or year: checkouts, users, denials, queued, max/total used and desired, by hour of day and day of week',
      ),
  )
    .option('--period <period...>', `${REPORT_PERIODS.join('|')} (repeatable)`, ['day'])
    .action((opts: ReportOpts & { period: string[] }) => {
      checkReportOpts(opts);
      const bad = opts.period.find((p) => !(REPORT_PERIODS as readonly string[]).includes(p));
      if (bad !== undefined) fail(`--period must be one of ${REPORT_PERIODS.join(', ')} (got ${bad})`, 2);
      const periods = [...new Set(opts.period)] as ReportPeriod[];
      return withStore(opts, async (store) => {
        const r = await usageReport(store.q, { from: opts.from, to: opts.to, product: opts.product, periods, now: Date.now() });
        process.stdout.write(
          opts.format === 'csv'
            ? summariesToCsv(r.summaries)
            : JSON.stringify({ from: opts.from, to: opts.to, periods, end: r.end, rows: r.summaries }, null, 2) + '\n',
        );
      });
    });

  reportArgs(report.command('log').description('every checkout, queue wait and denial with user, host, pid and times; split at 00:00 UTC')).action(
    (opts: ReportOpts) => {
      checkReportOpts(opts);
      return withStore(opts, async (store) => {
        const r = await usageReport(store.q, { from: opts.from, to: opts.to, product: opts.product, periods: [], now: Date.now() });
        process.stdout.write(
          opts.format === 'csv' ? logToCsv(r.log) : JSON.stringify({ from: opts.from, to: opts.to, end: r.end, rows: r.log }, null, 2) + '\n',
        );
      });
    },
  );

  // ---- exports -------------------------------------------------------------------------------
  const exportCmd = program.command('export').description('write reports to files');
  common(
    exportCmd
      .command('log-files')
      .description(
        'the license-usage log files of shared/reference/004: YYYY/MM/DD/Log.txt and Summary.txt, YYYY/MM/Summary.txt, YYYY/Summary.txt, WeeklySummaries/SummaryW<week>.txt/Summary.txt (UTC)',
      ),
  )
    .requiredOption('--dir <dir>', 'directory to write the tree into (created if missing; files of the same days are replaced)')
    .requiredOption('--from <date>', 'first day (YYYY-MM-DD, UTC)', day)
    .requiredOption('--to <date>', 'last day, inclusive (YYYY-MM-DD, UTC)', day)
    .option('--mode <mode>', LOG_MODES.join('|'), 'AllLogging')
    .option('--product <id>', 'only this product')
    .action((opts: CommonOpts & { dir: string; from: string; to: string; mode: string; product?: string }) => {
      if (!(LOG_MODES as readonly string[]).includes(opts.mode)) fail(`--mode must be ${LOG_MODES.join(' or ')} (got ${opts.mode})`, 2);
      if (opts.from > opts.to) fail('--from is after --to', 2);
      return withStore(opts, async (store) => {
        const files = await logFiles(store.q, { from: opts.from, to: opts.to, mode: opts.mode as LogMode, product: opts.product, now: Date.now() });
        try {
          for (const f of files) {
            const path = join(opts.dir, ...f.path.split('/'));
            mkdirSync(dirname(path), { recursive: true });
            writeFileSync(path, f.text);
          }
        } catch (err) {
          fail(`cannot write the log files under ${opts.dir}: ${(err as Error).message}`, 1);
        }
        process.stdout.write(`wrote ${files.length} files under ${opts.dir} (${opts.from} to ${opts.to}, ${opts.mode})\n`);
      });
    });
}
