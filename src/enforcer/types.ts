/**
 * The enforcer's state, events and effects (./logic.ts applies events to the state and returns
 * effects; ./component.ts performs them). One entry per (user, product) on this host; its phase
 * says which fields it has (see {@link Entry}).
 */
import type { Message } from '../i18n/messages.js';
import type { AcquireOutcome, LeaseRequest, ProductPolicy, QueuePollOutcome, ReleaseReason, RenewOutcome } from '../protocol/v1.js';
import type { UsageEvent } from './codes.js';

export interface EnforcerSettings {
  host: string;
  /** Warning before SIGTERM (leases.terminateWarningSeconds). */
  terminateWarningSeconds: number;
  /** SIGTERM to SIGKILL (leases.killAfterSeconds). */
  killAfterSeconds: number;
  /** Retry interval for acquire/renew/queue polls while the server cannot be reached. */
  retrySeconds: number;
  /** Long-poll length for queue tickets. */
  queueWaitSeconds: number;
}

/** A product that is only logged (8/9, 12/13): no lease, no enforcement. */
export interface LoggedProduct {
  id: string;
  name: string;
  logged: true;
  match: { executables: string[]; paths: string[] };
}

export type LeasedProduct = ProductPolicy & { logged?: false };
export type AnyProduct = LeasedProduct | LoggedProduct;

export interface Proc {
  pid: number;
  /** ISO start time of the process (its identity together with the pid). */
  startTime: string;
  /** Whether this process's launch event was written, and with which family of codes. */
  logged: 'none' | 'online' | 'offline';
  /** A launch event was written for it before (a later segment starts at its own time). */
  everLogged: boolean;
  suspended: boolean;
  /**
   * Stopped by the gate the moment it was seen (`gate: true`) and not continued since: it has not
   * run beyond its first instants, so a refusal with `terminate` kills it without a warning.
   */
  gated?: boolean;
}

export type Phase = Entry['phase'];

export interface Enforcement {
  kind: 'terminate' | 'suspend';
  /** Next step time (ms): SIGTERM after the warning, then SIGKILL. */
  stage: 'warned' | 'terminated' | 'killed' | 'suspended';
  atMs: number;
  /**
   * Only these processes (idle harvesting with `terminate`: the programs being closed). A program
   * the user starts again meanwhile is a new use: it gets its own lease and is not signalled.
   */
  pids?: number[];
}

/** What every entry has. */
interface EntryBase {
  key: string;
  user: string;
  uid: number | null;
  procs: Proc[];
  /** Stable request id of this entry's current lease attempt (idempotent retries). */
  requestId: string;
  generation: number;
  /** A request (acquire/renew/poll) is in flight; no second one is sent. */
  inFlight: boolean;
  /** All processes gone while a request was in flight: release whatever it returns. */
  abandoned?: boolean;
}

/** Only logged, never leased. */
export interface LoggedEntry extends EntryBase {
  phase: 'logged';
  product: LoggedProduct;
}

/** What a leased entry keeps from phase to phase. */
interface LeasedBase extends EntryBase {
  product: LeasedProduct;
  /** Next retry of a failed request while the server is unreachable. */
  retryAtMs?: number;
  enforcement?: Enforcement;
  /**
   * The last lease and its expiry: held, or run out locally while the server could not be reached
   * (the server may still have it: it is renewed, and the answer to a renewal in flight is taken).
   */
  leaseId?: string;
  expiresAtMs?: number;
  /**
   * The deadline announced to the user (expiry + grace) after renewal failures; it holds through a
   * new request and an offline spell, until a grant.
   */
  warnedDeadlineMs?: number;
  /** Asking again after an idle release because the user came back ("your license is back"), until the answer grants it. */
  idleReturn?: boolean;
}

/** Request in flight (first acquire, or again after the lease was lost or released for idleness). */
export interface AcquiringEntry extends LeasedBase {
  phase: 'acquiring';
}

/** Allocation held. */
export interface HeldEntry extends LeasedBase {
  phase: 'held';
  leaseId: string;
  expiresAtMs: number;
  renewAtMs: number;
  graceSeconds: number;
  /** When renewals started failing. */
  failingSinceMs?: number;
  /** The user was asked about idle release; when it happens unless they come back. */
  idleDeadlineMs?: number;
  /** When the user was asked (input after it means they are back); kept through the release. */
  idleAskedAtMs?: number;
}

/** Waiting in the server's queue (no ticket while asking again after losing the place). */
export interface QueuedEntry extends LeasedBase {
  phase: 'queued';
  ticket?: string;
}

/** Refused (or offline with `offline: deny`, or released for idleness); enforcement runs. */
export interface DeniedEntry extends LeasedBase {
  phase: 'denied';
  /** Why (shown in notifications and event reasons): the server's reason, `offline`, `lease-expired`, `idle`. */
  deniedReason: string;
  /** After an idle release: when the user was asked. */
  idleAskedAtMs?: number;
}

/** Running without an allocation (offline launch, or the lease ran out while offline). */
export interface OfflineEntry extends LeasedBase {
  phase: 'offline';
}

export type LeasedEntry = AcquiringEntry | HeldEntry | QueuedEntry | DeniedEntry | OfflineEntry;
export type Entry = LoggedEntry | LeasedEntry;

// biome-ignore lint/complexity/noBannedTypes: `{} extends Pick<T, K>` is how a conditional type tells an optional key
type RequiredKeys<T> = { [K in keyof T]-?: {} extends Pick<T, K> ? never : K }[keyof T];
/** A phase's own fields: those not in LeasedBase, and those it makes required (held: leaseId, expiresAtMs). */
type PhaseFields<P extends LeasedEntry['phase'], V = Extract<LeasedEntry, { phase: P }>> = Omit<
  V,
  Exclude<keyof LeasedBase, Exclude<RequiredKeys<V>, RequiredKeys<LeasedBase>>> | 'phase'
>;
/** Fields that belong to one phase only (dropped when the entry leaves it). */
const PHASE_ONLY = ['renewAtMs', 'graceSeconds', 'failingSinceMs', 'idleDeadlineMs', 'idleAskedAtMs', 'ticket', 'deniedReason'] as const;
type PhaseOnly = (typeof PHASE_ONLY)[number];
// Every phase's own field is in PHASE_ONLY (so it is dropped on the way out).
type AllPhaseFields = { [P in LeasedEntry['phase']]: keyof PhaseFields<P> }[LeasedEntry['phase']];
const phaseOnlyIsComplete: [Exclude<AllPhaseFields, PhaseOnly | 'leaseId' | 'expiresAtMs'>] extends [never] ? true : never = true;
void phaseOnlyIsComplete;

/**
 * Moves an entry to another phase: the fields of the phase it leaves go, the new phase's are set.
 * What a leased entry keeps from phase to phase ({@link LeasedBase}) stays. Returns the same
 * object, typed as the new phase.
 */
export function enterPhase<P extends LeasedEntry['phase']>(e: LeasedEntry, phase: P, fields: PhaseFields<P>): Extract<LeasedEntry, { phase: P }> {
  const bag = e as unknown as Record<string, unknown>;
  for (const k of PHASE_ONLY) delete bag[k];
  return Object.assign(e, { phase }, fields) as unknown as Extract<LeasedEntry, { phase: P }>;
}

export interface State {
  entries: Map<string, Entry>;
  /** (user, product) pairs that hold a leased/node-locked allocation (for 27 license issued). */
  allocations: Set<string>;
  /** Whether the last exchange with the server succeeded (logged programs use it for 8/9 vs 12/13). */
  online: boolean;
}

export function initialState(): State {
  return { entries: new Map(), allocations: new Set(), online: false };
}

export interface LaunchInfo {
  pid: number;
  user: string;
  uid: number | null;
  startTime: string;
}

export type EnforcerEvent =
  | { kind: 'launch'; now: number; product: AnyProduct; proc: LaunchInfo }
  | { kind: 'exit'; now: number; pid: number; startTime?: string }
  | { kind: 'acquired'; now: number; key: string; requestId: string; result: AcquireOutcome }
  | { kind: 'renewed'; now: number; key: string; leaseId: string; result: RenewOutcome }
  | { kind: 'queue'; now: number; key: string; ticket: string; result: QueuePollOutcome }
  /** The server answered something (uplink came back): retry what waits at once. */
  | { kind: 'online'; now: number }
  | { kind: 'offline'; now: number }
  | { kind: 'tick'; now: number }
  /** Idle detection from activity data: seconds since the user's last input in this product. */
  | { kind: 'idle'; now: number; user: string; productId: string; idleSeconds: number };

export interface NotificationEffect {
  kind: 'notify';
  user: string;
  uid: number | null;
  id: string;
  title: string;
  body: string;
  /** The same as a message key + parameters (rendered in the user's language by the session agent). */
  message: Message;
  urgency: 'low' | 'normal' | 'critical';
  /** After this time (ms) it no longer matters; undefined: until the entry is gone. */
  relevantUntilMs?: number;
  /** Entry it concerns (dropped from the pending list when the entry goes). */
  key: string;
}

export type Effect =
  | { kind: 'journal'; record: UsageEvent }
  | NotificationEffect
  | { kind: 'acquire'; key: string; request: LeaseRequest }
  | { kind: 'renew'; key: string; leaseId: string }
  | { kind: 'release'; key: string; leaseId: string; reason: ReleaseReason }
  | { kind: 'pollQueue'; key: string; ticket: string; waitSeconds: number }
  | { kind: 'leaveQueue'; key: string; ticket: string }
  | { kind: 'signal'; pids: number[]; signal: 'SIGTERM' | 'SIGKILL' | 'SIGSTOP' | 'SIGCONT'; key: string; gate?: true }
  /** Persist the bookkeeping (leases.json) after this step. */
  | { kind: 'persist' };

/** What one step's decisions read and change: the state, the settings, and the effects so far. */
export interface Step {
  readonly state: State;
  readonly settings: EnforcerSettings;
  readonly fx: Effect[];
}

export const entryKey = (user: string, productId: string) => `${user}\u0000${productId}`;

/** Deterministic request id for an entry's lease attempt (≤ 128 chars). */
export function requestIdFor(host: string, user: string, productId: string, pid: number, startTime: string, generation: number): string {
  return `${host}|${user}|${productId}|${pid}|${startTime}|${generation}`.slice(0, 128);
}
