/** Statements on a pool or a pooled connection, each prepared on the server once per SQL text (its name). */
import type pg from 'pg';
import { numberPlaceholders, type Dialect, type Sql } from '../sql.js';
import type { StoreSignal } from '../store.js';

/** The LISTEN/NOTIFY channel of every usage-server on a database. */
export const CHANNEL = 'usage_server';

/** NOTIFY the signals of a transaction in one round trip (a sweep may signal dozens of tickets), in their order. */
export async function notifySignals(client: pg.PoolClient, signals: readonly StoreSignal[]): Promise<void> {
  if (signals.length === 0) return;
  await client.query('SELECT pg_notify($1, s) FROM unnest($2::text[]) WITH ORDINALITY AS u(s, n) ORDER BY n', [CHANNEL, signals.map((s) => JSON.stringify(s))]);
}

type Queryable = pg.Pool | pg.PoolClient;

export class PgSql implements Sql {
  readonly dialect: Dialect = 'postgres';
  private static readonly texts = new Map<string, { name: string; text: string }>();

  constructor(private readonly on: Queryable) {}

  /** Named (server-side prepared) statements, one name per SQL text. */
  static prepared(sql: string): { name: string; text: string } {
    let p = PgSql.texts.get(sql);
    if (p === undefined) {
      p = { name: `us${PgSql.texts.size}`, text: numberPlaceholders(sql) };
      PgSql.texts.set(sql, p);
    }
    return p;
  }

  private query<T extends pg.QueryResultRow>(sql: string, params: readonly unknown[]): Promise<pg.QueryResult<T>> {
    const p = PgSql.prepared(sql);
    return this.on.query<T>({ name: p.name, text: p.text, values: params as unknown[] });
  }

  async all<T>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    return (await this.query(sql, params)).rows as T[];
  }

  async rows<T extends unknown[]>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    const p = PgSql.prepared(sql);
    return (await this.on.query<T>({ name: p.name, text: p.text, values: params as unknown[], rowMode: 'array' })).rows;
  }

  async get<T>(sql: string, params: readonly unknown[] = []): Promise<T | undefined> {
    return (await this.query(sql, params)).rows[0] as T | undefined;
  }

  async run(sql: string, params: readonly unknown[] = []): Promise<number> {
    return (await this.query(sql, params)).rowCount ?? 0;
  }
}
