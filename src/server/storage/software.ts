/**
 * The software audit's statements (portable SQL over `Sql`, both stores): applying uploaded
 * `software` records to `software_installed`, and the reads the installed-vs-used reports need.
 */
import type { UploadRecord } from '../../protocol/v1.js';
import type { Sql } from './sql.js';

export interface InstalledRow {
  host: string;
  source: string;
  name: string;
  architecture: string;
  version: string | null;
  publisher: string | null;
  install_time: string | null;
  agent_id: string;
  first_seen: string;
  updated_at: string;
}

type Change = { op: 'put'; row: InstalledRow } | { op: 'delete'; key: [string, string, string, string] };

/**
 * What a batch's software records (in seq order) leave per (host, source, name, architecture):
 * the last change wins. Pure; exported for tests.
 */
export function softwareChanges(agentId: string, agentHost: string, records: readonly UploadRecord[]): Change[] {
  const last = new Map<string, Change>();
  for (const r of records) {
    if (r.type !== 'software' || typeof r.name !== 'string' || typeof r.source !== 'string') continue;
    const host = typeof r.host === 'string' ? r.host : agentHost;
    const arch = typeof r.architecture === 'string' ? r.architecture : '';
    const key: [string, string, string, string] = [host, r.source, r.name, arch];
    const k = key.join('\u001f');
    if (r.change === 'removed') {
      last.set(k, { op: 'delete', key });
      continue;
    }
    const s = (x: unknown) => (typeof x === 'string' ? x : null);
    last.set(k, {
      op: 'put',
      row: {
        host,
        source: r.source,
        name: r.name,
        architecture: arch,
        version: s(r.version),
        publisher: s(r.publisher),
        install_time: s(r.installTime),
        agent_id: agentId,
        first_seen: r.time,
        updated_at: r.time,
      },
    });
  }
  return [...last.values()];
}

const PUT_COLUMNS = ['host', 'source', 'name', 'architecture', 'version', 'publisher', 'install_time', 'agent_id', 'first_seen', 'updated_at'] as const;
/** Rows per INSERT (10 parameters each; well under either store's limit). */
const PUT_CHUNK = 200;

export async function applySoftwareChanges(sql: Sql, changes: readonly Change[]): Promise<void> {
  const puts = changes.flatMap((c) => (c.op === 'put' ? [c.row] : []));
  for (const c of changes) {
    if (c.op === 'delete') await sql.run('DELETE FROM software_installed WHERE host = ? AND source = ? AND name = ? AND architecture = ?', c.key);
  }
  for (let i = 0; i < puts.length; i += PUT_CHUNK) {
    const chunk = puts.slice(i, i + PUT_CHUNK);
    const row = `(${PUT_COLUMNS.map(() => '?').join(', ')})`;
    await sql.run(
      `INSERT INTO software_installed (${PUT_COLUMNS.join(', ')}) VALUES ${chunk.map(() => row).join(', ')} ` +
        'ON CONFLICT (host, source, name, architecture) DO UPDATE SET version = excluded.version, publisher = excluded.publisher, ' +
        'install_time = excluded.install_time, agent_id = excluded.agent_id, updated_at = excluded.updated_at',
      chunk.flatMap((r) => PUT_COLUMNS.map((c) => r[c])),
    );
  }
}

export function installed(sql: Sql, host?: string): Promise<InstalledRow[]> {
  return host
    ? sql.all<InstalledRow>('SELECT * FROM software_installed WHERE host = ? ORDER BY source, name, architecture', [host])
    : sql.all<InstalledRow>('SELECT * FROM software_installed ORDER BY host, source, name, architecture');
}

/** Per host and package: when a process of it last ran (process records carry the owning package). */
export function packageUse(sql: Sql): Promise<Array<{ host: string; package: string; package_source: string | null; last_used: string }>> {
  return sql.all(
    'SELECT host, package, package_source, max(time) AS last_used FROM process_records WHERE package IS NOT NULL AND host IS NOT NULL GROUP BY host, package, package_source',
  );
}

/** The executables seen running from each package (to tell which products a package serves). */
export function packageExecutables(sql: Sql): Promise<Array<{ package: string; exe: string }>> {
  return sql.all('SELECT DISTINCT package, exe FROM process_records WHERE package IS NOT NULL AND exe IS NOT NULL');
}

/** Per product and host: the last start of the program or of a lease (codes 1, 3, 10, 29). */
export function productUse(sql: Sql): Promise<Array<{ product: string; host: string; last_used: string }>> {
  return sql.all(
    'SELECT product, host, max(time) AS last_used FROM usage_events WHERE code IN (1, 3, 10, 29) AND product IS NOT NULL AND host IS NOT NULL GROUP BY product, host',
  );
}

/** Software records as uploaded (the inventory's history), oldest first. */
export async function softwareHistory(sql: Sql, r: { host?: string; from: string; to: string }): Promise<Array<Record<string, unknown>>> {
  const rows = await sql.all<{ data: string }>(
    `SELECT data FROM other_records WHERE type = 'software' AND time >= ? AND time < ?${r.host ? ' AND host = ?' : ''} ORDER BY time, agent_id, seq`,
    r.host ? [r.from, r.to, r.host] : [r.from, r.to],
  );
  return rows.map((x) => JSON.parse(x.data) as Record<string, unknown>);
}
