/**
 * The fields a lease-side usage event takes from the row it is about, so each event names its
 * agent, product, user, host and process the same way wherever the seat changes (grant, release,
 * expiry, queue, revocation).
 */
import type { AllocationRow, LeaseRow, SeatClaim, ServerEvent } from '../storage/types.js';

type EventSubject = Pick<ServerEvent, 'agentId' | 'product' | 'user' | 'host' | 'pid' | 'processStart'>;

/** A process's claim on a seat: a queue ticket (or a lease, without its id). */
export function claimEventFields(c: SeatClaim): EventSubject {
  return { agentId: c.agent_id, product: c.product_id, user: c.user, host: c.host, pid: c.pid, processStart: c.process_start };
}

/** A lease: its claim and its id. */
export function leaseEventFields(l: LeaseRow): EventSubject & Pick<ServerEvent, 'leaseId'> {
  return { ...claimEventFields(l), leaseId: l.id };
}

/** An allocation (leased and node-locked products): it belongs to a user on a host, not to a process. */
export function allocationEventFields(a: AllocationRow): Pick<ServerEvent, 'agentId' | 'product' | 'user' | 'host'> {
  return { agentId: a.agent_id, product: a.product_id, user: a.user, host: a.host };
}
