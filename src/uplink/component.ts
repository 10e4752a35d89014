/**
 * The `uplink` daemon component: enrollment, policy polling (ETag), and journal upload. Offers
 * `ctx.components.uplink` (its client and uploader), which the enforcer uses for leases and policy.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { enrollSecretOf } from '../config/load.js';
import { PACKAGE_ROOT } from '../config/paths.js';
import type { Component, DaemonContext } from '../component/index.js';
import { encode } from '../protocol/integrity.js';
import { UplinkClient } from './client.js';
import { Uploader } from './uploader.js';

function agentVersion(): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

/** `server.url` then `server.urls`, without trailing slashes or repeats. */
export function serverUrls(cfg: { url?: string; urls?: readonly string[] }): string[] {
  return [...new Set([...(cfg.url ? [cfg.url] : []), ...(cfg.urls ?? [])].map((u) => u.replace(/\/+$/, '')))];
}

export function createUplinkComponent(ctx: DaemonContext): Component | undefined {
  const cfg = ctx.config.server;
  const urls = serverUrls(cfg);
  if (urls.length === 0) return undefined;
  const log = ctx.logger.child({ component: 'uplink' });
  const client = new UplinkClient({
    url: urls,
    // Checked at `usage-agent run` (checkServerFiles); read here, never logged.
    enrollSecret: enrollSecretOf(ctx.config, undefined),
    caFile: cfg.caFile,
    pinSha256: cfg.pinSha256,
    clientCertFile: cfg.clientCertFile,
    clientKeyFile: cfg.clientKeyFile,
    proxy: cfg.proxy,
    requestTimeoutMs: cfg.requestTimeoutMs,
    dataDir: ctx.dataDir,
    hostname: ctx.host.hostname,
    os: `${ctx.host.os} ${ctx.host.osRelease}`.slice(0, 128),
    agentVersion: agentVersion(),
    nextSeq: () => ctx.journal.ackedThroughSeq() + 1,
    chainHead: () => encode(ctx.journal.ackedChain()),
    onEnrolled: (recordKey) => {
      if (!recordKey) return ctx.journal.setRecordKey(undefined);
      const r = ctx.journal.rekey(recordKey);
      // A record left unMACed failed its chain check here: the server will flag it.
      (r.left > 0 ? log.warn.bind(log) : log.info.bind(log))(r, 'records waiting for upload MACed with the new record key');
    },
    logger: log,
  });
  const uploader = new Uploader(ctx.journal, client, {
    batchSize: cfg.uploadBatchSize,
    intervalMs: cfg.uploadIntervalMs,
    maxBackoffMs: cfg.maxBackoffMs,
    baseBackoffMs: Math.min(1000, cfg.uploadIntervalMs),
    hostname: ctx.host.hostname,
    logger: log,
  });
  ctx.components.uplink = { client, uploader };
  client.onOnline(() => uploader.kick());

  let policyTimer: NodeJS.Timeout | undefined;
  let stopped = false;
  const pollPolicy = async (): Promise<void> => {
    if (stopped) return;
    const p = await client.fetchPolicy().catch((err: unknown) => {
      log.warn({ err }, 'policy fetch failed');
      return undefined;
    });
    if (stopped) return;
    // Poll at the server's interval when online; retry sooner while it cannot be reached.
    const everyMs = client.online ? (p?.pollIntervalSeconds ?? 300) * 1000 : Math.min(cfg.maxBackoffMs, Math.max(cfg.uploadIntervalMs, 5000));
    policyTimer = setTimeout(() => void pollPolicy(), everyMs);
    policyTimer.unref();
  };

  return {
    name: 'uplink',
    async start() {
      // The first policy fetch is awaited briefly so the enforcer starts with fresh rules when the
      // server is there; offline it starts from the cached copy.
      await Promise.race([pollPolicy(), new Promise((r) => setTimeout(r, cfg.requestTimeoutMs).unref())]);
      uploader.start();
    },
    async stop() {
      stopped = true;
      if (policyTimer) clearTimeout(policyTimer);
      await uploader.stop();
      await client.close();
    },
    status() {
      const backlog = ctx.journal.backlog();
      return {
        server: client.url,
        ...(urls.length > 1 ? { servers: urls } : {}),
        ...client.status,
        backlogRecords: backlog.records,
        backlogBytes: backlog.bytes,
        ackedThroughSeq: ctx.journal.ackedThroughSeq(),
        ...uploader.stats,
        leasesHeld: ctx.components.enforcer?.heldLeases() ?? [],
      };
    },
  };
}
