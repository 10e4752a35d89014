import type { AgentConfig } from '../config/schema.js';
import type { HostIdentity } from '../host/identity.js';
import type { Journal } from '../journal/journal.js';
import type { Logger } from '../log/logger.js';

/** What every daemon component gets: configuration, the journal it writes to, and its peers. */
export interface DaemonContext {
  config: AgentConfig;
  dataDir: string;
  journal: Journal;
  logger: Logger;
  host: HostIdentity;
  /**
   * Components that offer something to others register it here by name in their factory
   * (e.g. "processes" for launch notifications, "sessions" for user notifications).
   */
  services: Map<string, unknown>;
}

/** A long-running part of the daemon: a collector, a listener, the uplink, the enforcer. */
export interface Component {
  readonly name: string;
  start(): Promise<void> | void;
  /** Must leave nothing half-written: the journal is flushed and closed after every stop(). */
  stop(): Promise<void> | void;
  /** A small JSON-able summary shown by `usage-agent status`. */
  status?(): Record<string, unknown>;
}

/** Returns undefined when the component is switched off by configuration or unavailable here. */
export type ComponentFactory = (ctx: DaemonContext) => Component | undefined | Promise<Component | undefined>;
