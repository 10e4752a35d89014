/**
 * The shapes the server stores, shared by both stores (SQLite and PostgreSQL). Lease, allocation
 * and queue times are integer milliseconds since the epoch (cheap comparisons in the sweep);
 * record times are the ISO strings the agent sent, normalised to UTC.
 */
import type { LicenseType } from '../../protocol/event-codes.js';

export interface ProductRow {
  id: string;
  name: string;
  license_type: LicenseType;
  seats: number | null;
  spec: string;
  source: string;
  updated_at: string;
}

export interface AgentRow {
  id: string;
  host: string;
  token_hash: string;
  agent_version: string | null;
  os: string | null;
  enrolled_at: string;
  last_seen_at: string | null;
  revoked_at: string | null;
  acked_seq: number;
  /** Key of the records' MACs (base64url; never logged or listed). Null for agents enrolled without one. */
  record_key?: string | null;
  /** Verified chain value at acked_seq (base64url); null: the agent does not chain its records. */
  chain_head?: string | null;
  /** SHA-256 (hex) of the client certificate the agent enrolled with; null: enrolled without one. */
  client_cert_sha256: string | null;
}

/** One process's claim on a seat: what a lease and the queue ticket it may come from both carry. */
export interface SeatClaim {
  agent_id: string;
  product_id: string;
  seat_key: string;
  user: string;
  host: string;
  pid: number;
  process_start: string;
  request_id: string;
}

export interface LeaseRow extends SeatClaim {
  id: string;
  ticket: string | null;
  granted_at: number;
  expires_at: number;
  renewed_at: number | null;
  claimed: number;
  ended_at: number | null;
  end_reason: string | null;
}

export interface AllocationRow {
  id: number;
  product_id: string;
  seat_key: string;
  agent_id: string;
  user: string;
  host: string;
  issued_at: number;
  last_used_at: number;
  revoked_at: number | null;
  revoke_reason: string | null;
}

export type TicketState = 'waiting' | 'granted' | 'cancelled' | 'expired';

export interface TicketRow extends SeatClaim {
  qseq: number;
  ticket: string;
  enqueued_at: number;
  last_poll_at: number;
  state: TicketState;
  lease_id: string | null;
  ended_at: number | null;
}

/** A usage event the server writes itself (origin 'server'). */
export interface ServerEvent {
  time: number;
  code: number;
  agentId?: string | null;
  product?: string | null;
  user?: string | null;
  host?: string | null;
  pid?: number | null;
  processStart?: string | null;
  leaseId?: string | null;
  reason?: string | null;
  /** JSON of further details (the `extra` column). */
  extra?: string | null;
}

/** Integrity flags of one agent and kind (server/integrity.ts), for the console. */
export interface IntegritySummaryRow {
  agent_id: string;
  host: string | null;
  kind: string;
  flags: number;
  records: number;
  from_seq: number;
  to_seq: number;
  first_time: string | null;
  last_time: string | null;
  first_detected_at: string;
  last_detected_at: string;
}

/** One renewal to write: extend a live lease of this agent to at least `expiresAt`. */
export interface Renewal {
  leaseId: string;
  agentId: string;
  expiresAt: number;
  at: number;
}
