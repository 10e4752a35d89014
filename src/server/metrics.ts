/**
 * Prometheus text exposition (format 0.0.4), hand-written: counters and one latency histogram kept
 * in memory, gauges (leases held, queue lengths, agents) read from the database at scrape time.
 */

type Labels = Record<string, string>;

function labelKey(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  return keys.map((k) => `${k}="${escapeLabel(labels[k])}"`).join(',');
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

interface Histogram {
  counts: number[];
  sum: number;
  count: number;
}

/** Bound on the memoised label sets (label values come from routes, products and status codes). */
const MAX_MEMO = 10_000;

export class Metrics {
  private readonly counters = new Map<string, { help: string; values: Map<string, number> }>();
  private readonly histograms = new Map<string, Histogram>();
  /** Rendered label keys by a cheap unsorted, unescaped key (rendering sorts and escapes). */
  private readonly keyMemo = new Map<string, string>();
  /** Per route+method+status: the request counter's label key and the route's histogram. */
  private readonly requestMemo = new Map<string, { counterKey: string; histogram: Histogram }>();
  readonly startedAt = Date.now();

  constructor() {
    const c = (name: string, help: string) => this.counters.set(name, { help, values: new Map() });
    c('usage_server_lease_grants_total', 'Leases granted (new seats and shared seats), by product.');
    c('usage_server_lease_denials_total', 'Lease requests denied, by product.');
    c('usage_server_lease_queued_total', 'Lease requests placed on a waiting queue, by product.');
    c('usage_server_lease_renewals_total', 'Successful lease renewals, by product.');
    c('usage_server_lease_releases_total', 'Leases ended, by product and reason (released, lost, revoked, ...).');
    c('usage_server_queue_dequeues_total', 'Tickets leaving a queue, by product and outcome (granted, expired, cancelled).');
    c('usage_server_ingest_records_total', 'Uploaded records stored, by record type.');
    c('usage_server_ingest_duplicates_total', 'Uploaded records already stored (re-sent overlap).');
    c('usage_server_ingest_gaps_total', 'Upload batches refused for a sequence gap.');
    c('usage_server_ingest_batches_total', 'Upload batches accepted.');
    c('usage_server_ingest_grouped_batches_total', "Upload batches stored in one PostgreSQL transaction with other agents' uploads (group ingest).");
    c(
      'usage_server_integrity_flags_total',
      'Uploaded records flagged by the integrity check (stored all the same), by kind: edited, forged, unauthenticated, gap (seqs missing).',
    );
    c(
      'usage_server_integrity_batches_total',
      'Upload batches of chaining agents verified, by where: worker (the integrity worker thread, large batches) or inline.',
    );
    c('usage_server_enrollments_total', 'Agents enrolled, by outcome.');
    c('usage_server_http_requests_total', 'HTTP requests, by route, method and status code.');
  }

  /** The rendered label key of `labels`, memoised (hot paths count on every request). */
  private key(labels: Labels): string {
    let raw = '';
    for (const k in labels) raw += `${k.length}:${k}${labels[k].length}:${labels[k]}`; // length-prefixed: unambiguous
    let key = this.keyMemo.get(raw);
    if (key === undefined) {
      key = labelKey(labels);
      if (this.keyMemo.size < MAX_MEMO) this.keyMemo.set(raw, key);
    }
    return key;
  }

  inc(name: string, labels: Labels = {}, by = 1): void {
    const c = this.counters.get(name);
    if (!c) throw new Error(`unknown counter ${name}`);
    const k = this.key(labels);
    c.values.set(k, (c.values.get(k) ?? 0) + by);
  }

  get(name: string, labels: Labels = {}): number {
    return this.counters.get(name)?.values.get(labelKey(labels)) ?? 0;
  }

  observeRequest(route: string, method: string, status: number, seconds: number): void {
    const raw = route + '\u0000' + method + '\u0000' + status;
    let m = this.requestMemo.get(raw);
    if (m === undefined) {
      const hk = labelKey({ route, method });
      let histogram = this.histograms.get(hk);
      if (!histogram) {
        histogram = { counts: new Array(LATENCY_BUCKETS.length).fill(0), sum: 0, count: 0 };
        this.histograms.set(hk, histogram);
      }
      m = { counterKey: labelKey({ route, method, code: String(status) }), histogram };
      if (this.requestMemo.size < MAX_MEMO) this.requestMemo.set(raw, m);
    }
    const values = this.counters.get('usage_server_http_requests_total')!.values;
    values.set(m.counterKey, (values.get(m.counterKey) ?? 0) + 1);
    const h = m.histogram;
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) if (seconds <= LATENCY_BUCKETS[i]) h.counts[i]++;
    h.sum += seconds;
    h.count++;
  }

  /** Render counters, the histogram and the supplied gauges. */
  render(gauges: Array<{ name: string; help: string; values: Array<{ labels: Labels; value: number }> }>): string {
    const out: string[] = [];
    for (const g of gauges) {
      out.push(`# HELP ${g.name} ${g.help}`, `# TYPE ${g.name} gauge`);
      for (const v of g.values) out.push(`${g.name}${fmtLabels(labelKey(v.labels))} ${v.value}`);
    }
    for (const [name, c] of this.counters) {
      out.push(`# HELP ${name} ${c.help}`, `# TYPE ${name} counter`);
      for (const [k, v] of c.values) out.push(`${name}${fmtLabels(k)} ${v}`);
    }
    const hn = 'usage_server_http_request_duration_seconds';
    out.push(`# HELP ${hn} HTTP request latency, by route and method.`, `# TYPE ${hn} histogram`);
    for (const [k, h] of this.histograms) {
      for (let i = 0; i < LATENCY_BUCKETS.length; i++) out.push(`${hn}_bucket{${k},le="${LATENCY_BUCKETS[i]}"} ${h.counts[i]}`);
      out.push(`${hn}_bucket{${k},le="+Inf"} ${h.count}`, `${hn}_sum{${k}} ${h.sum}`, `${hn}_count{${k}} ${h.count}`);
    }
    out.push(
      '# HELP usage_server_start_time_seconds Unix time the server started.',
      '# TYPE usage_server_start_time_seconds gauge',
      `usage_server_start_time_seconds ${Math.floor(this.startedAt / 1000)}`,
    );
    return out.join('\n') + '\n';
  }
}

function fmtLabels(k: string): string {
  return k ? `{${k}}` : '';
}
