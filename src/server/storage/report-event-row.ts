/** A usage event as the reports read it: one column list and its row shape (the report queries, the spans fold, reports' toEvent). */
/** The columns of a usage event the reports read, in this order (REPORT_EVENT_COLS): one array per row. */
export type ReportEventRow = [
  time: string,
  code: number,
  product: string,
  agentId: string | null,
  user: string | null,
  host: string | null,
  pid: number | null,
  processStart: string | null,
  leaseId: string | null,
  reason: string | null,
];
export const REPORT_EVENT_COLS = 'time, code, product, agent_id, "user", host, pid, process_start, lease_id, reason';
