/**
 * UplinkClient: the agent's only way to the usage-server. Enrolls (credentials in the data dir,
 * 0600), re-enrolls when a 401 says the token is no longer valid, fetches the policy with ETag and
 * caches it on disk (so the enforcer knows the rules offline, after a restart too), and offers the
 * lease and upload calls. It keeps the connection state shown by `usage-agent status`.
 *
 * Every call is ONE attempt (plus one re-enrollment when needed); callers decide about retries:
 * the uploader with backoff (./backoff.ts), the enforcer with its own timers.
 *
 * Several servers (`server.urls`, one database behind them): the client sticks to the server that
 * last answered, and when it cannot be reached (or answers 5xx) the same call goes to the next one
 * at once, then sticks there. Every call is idempotent on the server (acquire by requestId and
 * process, uploads by seq, releases and renewals by lease id), so trying it on another server never
 * takes a second seat or stores a record twice.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Dispatcher } from 'undici';
import {
  V1_PATHS,
  type AcquireOutcome,
  type EnrollResponse,
  type EventsUploadResponse,
  type HeldLeasesResponse,
  type LeaseDenied,
  type LeaseGranted,
  type LeaseQueued,
  type LeaseRequest,
  type PolicyResponse,
  type Problem,
  type QueuePollOutcome,
  type QueueStatus,
  type ReleaseReason,
  type RenewOutcome,
  type SeqGapProblem,
  type UploadRecord,
} from '../protocol/v1.js';
import type { Logger } from '../log/logger.js';
import { classifyStatus } from './backoff.js';
import { writeFileAtomic } from '../shared/atomic-file.js';
import { loadCredentials, saveCredentials, type Credentials } from './credentials.js';
import { createDispatcher, jsonRequest, type HttpOptions, type HttpResult } from './http.js';
import { classifyTlsFailure, type TlsFailure } from './tls-failure.js';

/** The connection (TLS, proxy, timeout: HttpOptions) and what the client needs to enroll and upload. */
export interface UplinkClientOptions extends HttpOptions {
  /** One server, or several sharing one database (tried in this order, sticking to the last that answered). */
  url: string | readonly string[];
  enrollSecret?: string;
  dataDir: string;
  hostname: string;
  os?: string;
  agentVersion?: string;
  /** Seq of the first record not yet acknowledged (for re-enrollment with nextSeq). */
  nextSeq: () => number;
  /** Chain value of the record at nextSeq-1 (base64url): the server verifies the chain from there. */
  chainHead?: () => string;
  /**
   * A new identity's record key (undefined from a server without tamper evidence), before the
   * credentials are saved: the journal MACs its waiting records with it.
   */
  onEnrolled?: (recordKey: Buffer | undefined) => void;
  logger?: Logger;
}

export type CallResult<T> =
  | { ok: true; status: number; body: T; headers: Record<string, string | string[] | undefined> }
  | { ok: false; kind: 'network'; error: string }
  | { ok: false; kind: 'http'; status: number; problem?: Problem; retryAfter?: string | string[]; error: string }
  | { ok: false; kind: 'not-enrolled'; error: string };

export interface CachedPolicy {
  etag: string | null;
  fetchedAt: string;
  policy: PolicyResponse;
}

export interface ConnectionStatus {
  state: 'unconfigured' | 'connecting' | 'online' | 'offline' | 'not-enrolled';
  agentId: string | null;
  lastSuccess: string | null;
  lastError: string | null;
  lastErrorAt: string | null;
  consecutiveFailures: number;
  policyVersion: string | null;
  /** The last request failed in TLS: why (unknown CA, name mismatch, expired, pin mismatch, ...); null once one succeeds. */
  tls: (TlsFailure & { since: string }) | null;
}

export const policyCachePath = (dataDir: string) => join(dataDir, 'policy.json');

export class UplinkClient {
  private readonly dispatcher: Dispatcher;
  private creds: Credentials | undefined;
  private enrolling: Promise<boolean> | undefined;
  private cachedPolicy: CachedPolicy | undefined;
  private readonly policyListeners = new Set<(p: PolicyResponse) => void>();
  private readonly onlineListeners = new Set<() => void>();
  private readonly urls: readonly string[];
  /** Index into `urls` of the server in use. */
  private current = 0;
  readonly status: ConnectionStatus;

  constructor(private readonly o: UplinkClientOptions) {
    this.urls = typeof o.url === 'string' ? [o.url] : [...o.url];
    if (this.urls.length === 0) throw new RangeError('at least one server URL is needed');
    this.dispatcher = createDispatcher({
      caFile: o.caFile,
      pinSha256: o.pinSha256,
      clientCertFile: o.clientCertFile,
      clientKeyFile: o.clientKeyFile,
      proxy: o.proxy,
      requestTimeoutMs: o.requestTimeoutMs,
    });
    this.creds = loadCredentials(o.dataDir, this.urls);
    try {
      this.cachedPolicy = JSON.parse(readFileSync(policyCachePath(o.dataDir), 'utf8')) as CachedPolicy;
    } catch {
      this.cachedPolicy = undefined;
    }
    this.status = {
      state: 'connecting',
      agentId: this.creds?.agentId ?? null,
      lastSuccess: null,
      lastError: null,
      lastErrorAt: null,
      consecutiveFailures: 0,
      policyVersion: this.cachedPolicy?.policy.version ?? null,
      tls: null,
    };
  }

  get online(): boolean {
    return this.status.state === 'online';
  }

  get agentId(): string | undefined {
    return this.creds?.agentId;
  }

  /** The server in use now. */
  get url(): string {
    return this.urls[this.current];
  }

  /**
   * One request to the server in use; when it cannot be reached or answers 5xx, the next servers
   * in turn (each once), sticking to the first that answers.
   */
  private async send<T>(r: Omit<Parameters<typeof jsonRequest>[1], 'url'> & { path: string }): Promise<HttpResult<T>> {
    let last: HttpResult<T> | undefined;
    for (let tried = 0; tried < this.urls.length; tried++) {
      const url = this.urls[this.current];
      const { path, ...rest } = r;
      last = await jsonRequest<T>(this.dispatcher, { ...rest, url: url + path });
      const failed = last.kind === 'network' || last.status >= 500;
      if (!failed || this.urls.length === 1 || r.signal?.aborted) return last;
      const next = (this.current + 1) % this.urls.length;
      this.o.logger?.warn(
        { from: url, to: this.urls[next], error: last.kind === 'network' ? last.error : `HTTP ${last.status}` },
        'usage-server failed; trying the next one',
      );
      this.current = next;
    }
    return last!;
  }

  /** The last policy fetched (possibly from the on-disk cache of an earlier run). */
  policy(): PolicyResponse | undefined {
    return this.cachedPolicy?.policy;
  }

  onPolicy(listener: (p: PolicyResponse) => void): () => void {
    this.policyListeners.add(listener);
    return () => this.policyListeners.delete(listener);
  }

  /** Called when a request succeeds after failures (the server is back). */
  onOnline(listener: () => void): () => void {
    this.onlineListeners.add(listener);
    return () => this.onlineListeners.delete(listener);
  }

  async close(): Promise<void> {
    await this.dispatcher.destroy().catch(() => undefined);
  }

  // --- enrollment ------------------------------------------------------------------------------

  /** Enrolls when there are no credentials (or they were rejected). Concurrent callers share one attempt. */
  ensureEnrolled(force = false): Promise<boolean> {
    if (this.creds && !force) return Promise.resolve(true);
    this.enrolling ??= this.enroll().finally(() => (this.enrolling = undefined));
    return this.enrolling;
  }

  private async enroll(): Promise<boolean> {
    if (!this.o.enrollSecret) {
      this.noteFailure('not enrolled and neither server.enrollSecret nor server.enrollSecretFile is set', 'not-enrolled');
      return false;
    }
    const r = await this.send<EnrollResponse & Problem>({
      method: 'POST',
      path: V1_PATHS.enroll,
      timeoutMs: this.o.requestTimeoutMs,
      body: {
        enrollSecret: this.o.enrollSecret,
        host: this.o.hostname,
        ...(this.o.os ? { os: this.o.os } : {}),
        ...(this.o.agentVersion ? { agentVersion: this.o.agentVersion } : {}),
        nextSeq: Math.max(1, this.o.nextSeq()),
        ...(this.o.chainHead ? { chainHead: this.o.chainHead() } : {}),
      },
    });
    if (r.kind === 'network') {
      this.noteFailure(`enroll: ${r.error}`, 'offline', r.code, r.error);
      return false;
    }
    if (r.status === 403 && r.body?.code === 'client-cert-required') {
      this.noteFailure(`enroll: HTTP 403 client-cert-required`, 'offline', r.body.code, r.body.detail ?? 'client certificate required');
      return false;
    }
    if (r.status !== 201 && r.status !== 200) {
      this.noteFailure(`enroll: HTTP ${r.status} ${r.body?.code ?? ''}`.trim(), r.status === 403 ? 'not-enrolled' : 'offline');
      return false;
    }
    const recordKey = typeof r.body.recordKey === 'string' ? r.body.recordKey : undefined;
    try {
      this.o.onEnrolled?.(recordKey ? Buffer.from(recordKey, 'base64url') : undefined);
    } catch (err) {
      this.o.logger?.error({ err }, 'could not MAC the waiting records with the new record key');
    }
    this.creds = {
      serverUrl: this.url,
      agentId: r.body.agentId,
      agentToken: r.body.agentToken,
      enrolledAt: new Date().toISOString(),
      ...(recordKey ? { recordKey } : {}),
    };
    try {
      saveCredentials(this.o.dataDir, this.creds);
    } catch (err) {
      // Keep working with the token in memory; the next start enrolls again (with nextSeq).
      this.o.logger?.error({ err }, 'could not save credentials');
    }
    this.status.agentId = this.creds.agentId;
    this.o.logger?.info({ agentId: this.creds.agentId }, 'enrolled with the usage-server');
    this.noteSuccess();
    return true;
  }

  // --- generic authorized call -----------------------------------------------------------------

  async call<T>(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    opts: {
      body?: unknown;
      /** A function is called for every attempt: after enrolling again an upload's body is built anew (its MACs were the old key's). */
      rawJson?: string | Buffer | (() => string | Buffer);
      headers?: Record<string, string>;
      timeoutMs?: number;
      signal?: AbortSignal;
    } = {},
  ): Promise<CallResult<T>> {
    for (let attempt = 0; attempt < 2; attempt++) {
      if (!(await this.ensureEnrolled())) return { ok: false, kind: 'not-enrolled', error: this.status.lastError ?? 'not enrolled' };
      const token = this.creds!.agentToken;
      const r: HttpResult<T & Problem> = await this.send<T & Problem>({
        method,
        path,
        token,
        body: opts.body,
        rawJson: typeof opts.rawJson === 'function' ? opts.rawJson() : opts.rawJson,
        headers: opts.headers,
        timeoutMs: opts.timeoutMs ?? this.o.requestTimeoutMs,
        signal: opts.signal,
      });
      if (r.kind === 'network') {
        this.noteFailure(`${method} ${path.split('?')[0]}: ${r.error}`, 'offline', r.code, r.error);
        return { ok: false, kind: 'network', error: r.error };
      }
      const problem = r.status >= 400 && r.body && typeof r.body === 'object' ? (r.body as Problem) : undefined;
      if (r.status === 403 && problem?.code === 'client-cert-required') {
        // Not an answer about this request: the server will take none until the certificate is right.
        const error = `${method} ${path.split('?')[0]}: HTTP 403 client-cert-required`;
        this.noteFailure(error, 'offline', problem.code, problem.detail ?? 'client certificate required');
        return { ok: false, kind: 'http', status: r.status, problem, error };
      }
      const d = classifyStatus(r.status, problem?.action);
      if (d === 'reenroll' && attempt === 0) {
        this.o.logger?.warn({ status: r.status, code: problem?.code }, 'token rejected; enrolling again');
        if (this.creds?.agentToken === token) this.creds = undefined;
        continue;
      }
      if (d === 'ok') {
        this.noteSuccess();
        return { ok: true, status: r.status, body: r.body as T, headers: r.headers };
      }
      const error = `${method} ${path.split('?')[0]}: HTTP ${r.status}${problem?.code ? ` ${problem.code}` : ''}`;
      // A 4xx is an answer from a working server (it is online); 5xx/429 count as failures.
      if (d === 'retry') this.noteFailure(error);
      else this.noteSuccess();
      return { ok: false, kind: 'http', status: r.status, problem, retryAfter: r.headers['retry-after'], error };
    }
    return { ok: false, kind: 'not-enrolled', error: 'token rejected twice' };
  }

  // --- policy ----------------------------------------------------------------------------------

  /** Fetches the policy with If-None-Match; returns the current policy (cached on 304 or failure). */
  async fetchPolicy(): Promise<PolicyResponse | undefined> {
    const headers: Record<string, string> = {};
    if (this.cachedPolicy?.etag) headers['if-none-match'] = this.cachedPolicy.etag;
    const r = await this.call<PolicyResponse>('GET', V1_PATHS.policy, { headers });
    if (r.ok && r.status === 200 && r.body && Array.isArray(r.body.products)) {
      const etag = r.headers.etag;
      this.cachedPolicy = { etag: typeof etag === 'string' ? etag : null, fetchedAt: new Date().toISOString(), policy: r.body };
      try {
        writeFileAtomic(policyCachePath(this.o.dataDir), JSON.stringify(this.cachedPolicy), { mode: 0o600, mkdir: true });
      } catch (err) {
        this.o.logger?.warn({ err }, 'could not cache the policy on disk');
      }
      this.status.policyVersion = r.body.version;
      for (const l of this.policyListeners) l(r.body);
    }
    return this.cachedPolicy?.policy;
  }

  // --- leases ----------------------------------------------------------------------------------

  async acquire(req: LeaseRequest): Promise<AcquireOutcome> {
    const r = await this.call<LeaseGranted | LeaseQueued>('POST', V1_PATHS.leases, { body: req });
    if (r.ok) return r.status === 202 ? { kind: 'queued', queued: r.body as LeaseQueued } : { kind: 'granted', lease: r.body as LeaseGranted };
    if (r.kind === 'http' && r.status === 409 && r.problem?.code === 'lease-denied') return { kind: 'denied', denied: r.problem as LeaseDenied };
    const cannotConnect = r.kind === 'http' && r.problem?.code === 'client-cert-required';
    if (r.kind === 'network' || (r.kind === 'http' && classifyStatus(r.status) === 'retry') || r.kind === 'not-enrolled' || cannotConnect) {
      return { kind: 'unreachable', error: r.error };
    }
    return { kind: 'error', error: r.error };
  }

  async renew(leaseId: string): Promise<RenewOutcome> {
    const r = await this.call<LeaseGranted>('POST', V1_PATHS.renew(leaseId));
    if (r.ok) return { kind: 'renewed', lease: r.body };
    if (r.kind === 'http' && (r.status === 404 || r.status === 410)) return { kind: 'gone' };
    return { kind: 'unreachable', error: r.error };
  }

  async release(leaseId: string, reason: ReleaseReason): Promise<boolean> {
    const r = await this.call('DELETE', `${V1_PATHS.lease(leaseId)}?reason=${reason}`);
    return r.ok || (r.kind === 'http' && r.status === 404);
  }

  async pollQueue(ticket: string, waitSeconds: number, signal?: AbortSignal): Promise<QueuePollOutcome> {
    const r = await this.call<QueueStatus>('GET', `${V1_PATHS.queueTicket(ticket)}?wait=${Math.max(0, Math.floor(waitSeconds))}`, {
      timeoutMs: this.o.requestTimeoutMs + waitSeconds * 1000,
      signal,
    });
    if (r.ok) return { kind: 'status', status: r.body };
    if (r.kind === 'http' && (r.status === 410 || r.status === 404)) return { kind: 'gone' };
    return { kind: 'unreachable', error: r.error };
  }

  async leaveQueue(ticket: string): Promise<void> {
    await this.call('DELETE', V1_PATHS.queueTicket(ticket));
  }

  async heldLeases(): Promise<HeldLeasesResponse | undefined> {
    const r = await this.call<HeldLeasesResponse>('GET', V1_PATHS.leases);
    return r.ok ? r.body : undefined;
  }

  // --- records ---------------------------------------------------------------------------------

  /** Uploads records; `records` may be a pre-serialized `{"records":[...]}` JSON string or buffer, or a function making one (called per attempt). */
  async upload(
    records: UploadRecord[] | string | Buffer | (() => string | Buffer),
  ): Promise<
    | { kind: 'acked'; response: EventsUploadResponse }
    | { kind: 'gap'; problem: SeqGapProblem }
    | { kind: 'retry'; error: string; retryAfter?: string | string[] }
    | { kind: 'fail'; error: string }
  > {
    const r = await this.call<EventsUploadResponse>('POST', V1_PATHS.events, Array.isArray(records) ? { body: { records } } : { rawJson: records });
    if (r.ok) {
      if (typeof r.body?.ackedThroughSeq !== 'number') return { kind: 'retry', error: 'upload answer without ackedThroughSeq' };
      return { kind: 'acked', response: r.body };
    }
    if (r.kind === 'http' && r.status === 409 && r.problem?.code === 'seq-gap') return { kind: 'gap', problem: r.problem as SeqGapProblem };
    // Logged once by the client (status.tls), retried with backoff until the certificate is fixed.
    if (r.kind === 'http' && r.problem?.code === 'client-cert-required') return { kind: 'retry', error: r.error };
    if (r.kind === 'http' && classifyStatus(r.status) === 'fail') return { kind: 'fail', error: r.error };
    return { kind: 'retry', error: r.error, retryAfter: r.kind === 'http' ? r.retryAfter : undefined };
  }

  async serverAck(): Promise<number | undefined> {
    const r = await this.call<{ ackedThroughSeq: number }>('GET', V1_PATHS.eventsAck);
    return r.ok ? r.body.ackedThroughSeq : undefined;
  }

  // --- state -----------------------------------------------------------------------------------

  private noteSuccess(): void {
    const wasOnline = this.status.state === 'online';
    this.status.state = 'online';
    this.status.lastSuccess = new Date().toISOString();
    this.status.consecutiveFailures = 0;
    if (this.status.tls) {
      this.o.logger?.info({ was: this.status.tls.reason }, 'TLS to the usage-server works again');
      this.status.tls = null;
    }
    if (!wasOnline) for (const l of this.onlineListeners) l();
  }

  private noteFailure(error: string, state: ConnectionStatus['state'] = 'offline', code?: string, cause = error): void {
    const tls = classifyTlsFailure(code, cause);
    if (tls) {
      // Logged once per change of reason (a wrong CA retried all night is one line, not thousands).
      if (this.status.tls?.reason !== tls.reason)
        this.o.logger?.error({ reason: tls.reason, error: tls.detail, server: this.url }, 'TLS connection to the usage-server refused');
      this.status.tls = { ...tls, since: this.status.tls?.reason === tls.reason ? this.status.tls.since : new Date().toISOString() };
    } else {
      this.status.tls = null;
      if (this.status.state === 'online' || this.status.lastError !== error) this.o.logger?.warn({ error }, 'usage-server request failed');
    }
    this.status.state = state;
    this.status.lastError = error;
    this.status.lastErrorAt = new Date().toISOString();
    this.status.consecutiveFailures += 1;
  }
}
