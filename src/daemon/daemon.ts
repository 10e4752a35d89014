import { accessSync, constants, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import type { AgentConfig } from '../config/schema.js';
import { journalPath, pidPath, statusPath } from '../config/paths.js';
import { hasCapability } from '../host/capabilities.js';
import { detectHostIdentity } from '../host/identity.js';
import { Journal } from '../journal/journal.js';
import { writeFileAtomic } from '../shared/atomic-file.js';
import { loadRecordKey } from '../uplink/credentials.js';
import type { Logger } from '../log/logger.js';
import type { Component, ComponentFactory, DaemonContext } from '../component/index.js';
import { COMPONENT_FACTORIES } from './components.js';
import { adoptDataDir } from './data-dir.js';
import { METRICS_FILE, renderMetrics, renderStoppedMetrics, writeMetricsFile } from './metrics.js';

const STATUS_INTERVAL_MS = 5000;

export interface RunningDaemon {
  context: DaemonContext;
  components: Component[];
  stop(reason: string): Promise<void>;
}

/** Starts the journal and every component; the caller owns signal handling and process exit. */
export async function startDaemon(
  config: AgentConfig,
  dataDir: string,
  logger: Logger,
  factories: ComponentFactory[] = COMPONENT_FACTORIES,
): Promise<RunningDaemon> {
  mkdirSync(dataDir, { recursive: true, mode: 0o750 });
  const adopted = takeOverDataDir(dataDir);
  claimPidFile(dataDir);
  const journal = Journal.open(journalPath(dataDir), { flushIntervalMs: config.journal.flushIntervalMs, logger });
  // The record key before any component journals: every record is MACed from its first flush.
  journal.setRecordKey(loadRecordKey(dataDir));
  const host = await detectHostIdentity();
  journal.recordHost = host.hostname;
  const context: DaemonContext = { config, dataDir, journal, logger, host, components: {} };
  logger.info({ dataDir, journal: journal.path, host }, 'usage-agent starting');
  if (adopted.length > 0) logger.info({ paths: adopted }, 'took over files in the data dir that another user (root) made');

  const components: Component[] = [];
  const startedAt = new Date().toISOString();
  let metricsFailing = false;
  const writeStatus = () => {
    const status = writeStatusFile(dataDir, startedAt, host, components, journal);
    const dir = config.metrics.textfileDir;
    if (!dir) return;
    try {
      writeMetricsFile(dir, renderMetrics(status, Boolean(config.server.url ?? config.server.urls)));
      if (metricsFailing) logger.info({ file: `${dir}/${METRICS_FILE}` }, 'metrics file written again');
      metricsFailing = false;
    } catch (err) {
      // Logged once per failing spell: collection goes on without the metrics file.
      if (!metricsFailing) logger.error({ err, key: 'metrics.textfileDir', file: `${dir}/${METRICS_FILE}` }, 'cannot write the metrics file');
      metricsFailing = true;
    }
  };
  let statusTimer: NodeJS.Timeout | undefined;
  let stopping: Promise<void> | undefined;

  const stop = (reason: string): Promise<void> => {
    stopping ??= (async () => {
      logger.info({ reason }, 'usage-agent stopping');
      if (statusTimer) clearInterval(statusTimer);
      for (const component of [...components].reverse()) {
        try {
          await component.stop();
        } catch (err) {
          logger.error({ err, component: component.name }, 'component failed to stop cleanly');
        }
      }
      journal.close();
      rmSync(statusPath(dataDir), { force: true });
      if (config.metrics.textfileDir) {
        try {
          writeMetricsFile(config.metrics.textfileDir, renderStoppedMetrics());
        } catch {
          /* logged while running */
        }
      }
      rmSync(pidPath(dataDir), { force: true });
      logger.info({ lastSeq: journal.lastSeq() }, 'usage-agent stopped; journal flushed');
    })();
    return stopping;
  };

  try {
    for (const factory of factories) {
      const component = await factory(context);
      if (!component) continue;
      await component.start();
      components.push(component);
      logger.info({ component: component.name }, 'component started');
    }
  } catch (err) {
    await stop('start failed');
    throw err;
  }
  writeStatus();
  // Not unref'd: this timer is what keeps an otherwise idle daemon alive until stop().
  statusTimer = setInterval(writeStatus, STATUS_INTERVAL_MS);
  return { context, components, stop };
}

/** One daemon per data dir: two writers would interleave seq numbers from two processes' views. */
/** The data dir made ours (see data-dir.ts), or an error that says what to fix. */
function takeOverDataDir(dataDir: string): string[] {
  const self = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  const adopted = adoptDataDir(dataDir, self, hasCapability('CAP_CHOWN'));
  try {
    accessSync(dataDir, constants.W_OK);
  } catch {
    const st = statSync(dataDir);
    throw new Error(
      `data dir ${dataDir} is not writable by uid ${self.uid} (it is owned by uid ${st.uid}, mode ${(st.mode & 0o777).toString(8)}): chown -R it to the daemon's user`,
    );
  }
  return adopted;
}

function claimPidFile(dataDir: string): void {
  const path = pidPath(dataDir);
  const other = readRunningPid(dataDir);
  if (other !== undefined && other !== process.pid) {
    throw new Error(`another usage-agent (pid ${other}) is already running on data dir ${dataDir}`);
  }
  writeFileAtomic(path, `${process.pid}\n`, { mode: 0o644 });
}

/** The pid of a live daemon on this data dir, if any. */
export function readRunningPid(dataDir: string): number | undefined {
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(pidPath(dataDir), 'utf8'), 10);
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined;
  }
}

function writeStatusFile(dataDir: string, startedAt: string, host: unknown, components: Component[], journal: Journal) {
  const status: Record<string, unknown> & {
    pid: number;
    startedAt: string;
    updatedAt: string;
    journal: { lastSeq: number; ackedThroughSeq: number };
    components?: Record<string, Record<string, unknown>>;
  } = {
    pid: process.pid,
    startedAt,
    updatedAt: new Date().toISOString(),
    host,
    journal: { lastSeq: journal.lastSeq(), ackedThroughSeq: journal.ackedThroughSeq() },
  };
  const parts: Record<string, Record<string, unknown>> = {};
  for (const component of components) {
    try {
      parts[component.name] = component.status?.() ?? {};
    } catch (err) {
      parts[component.name] = { error: String(err) };
    }
  }
  status.components = parts;
  try {
    writeFileAtomic(statusPath(dataDir), `${JSON.stringify(status, null, 2)}\n`, { mode: 0o644, durable: false });
  } catch {
    /* status is advisory; a full disk must not stop collection */
  }
  return status;
}
