/**
 * The contract between the daemon (src/daemon) and its components: what each component is given
 * (DaemonContext), what it is (Component), and what components offer one another (Components).
 * Below every component and the daemon, so a component never imports the daemon that hosts it.
 */
import type { PackageOwnerLookup } from '../collectors/software/owners.js';
import type { ProcessEvents } from '../collectors/processes/watcher.js';
import type { AgentConfig } from '../config/schema.js';
import type { Enforcer } from '../enforcer/logic.js';
import type { HostIdentity } from '../host/identity.js';
import type { IdentityResolver } from '../identity/resolver.js';
import type { SessionHub } from '../ipc/hub.js';
import type { Journal } from '../journal/journal.js';
import type { Logger } from '../log/logger.js';
import type { UplinkClient } from '../uplink/client.js';
import type { Uploader } from '../uplink/uploader.js';

/** The usage-server connection: leases and policy (client), journal upload (uploader). */
export interface Uplink {
  client: UplinkClient;
  uploader: Uploader;
}

/**
 * What the enforcer tells others: the leases it holds (the uplink's status shows them). Narrow on
 * purpose: the enforcer uses the uplink and the uplink only reads this, so neither module imports
 * the other.
 */
export interface LeaseHolder {
  heldLeases(): ReturnType<Enforcer['heldLeases']>;
}

/**
 * What components offer one another, each set by the factory of the component that offers it
 * (factories run in the order of src/daemon/components.ts) and absent when that component is off
 * or unavailable here.
 */
export interface Components {
  /** Launch and exit notifications, fast new-PID poll (collectors/processes; Linux). */
  processes?: ProcessEvents;
  /** Which installed package owns an executable (collectors/software). */
  packages?: PackageOwnerLookup;
  /** Users' session agents: notifications, live activity, logons (ipc). */
  sessions?: SessionHub;
  /** The one uid/gid -> name resolver, made on first use by identityOf() (identity). */
  identity?: IdentityResolver;
  /** Only with a server configured (uplink). */
  uplink?: Uplink;
  /** Leases held (enforcer). */
  enforcer?: LeaseHolder;
}

/** What every daemon component gets: configuration, the journal it writes to, and its peers. */
export interface DaemonContext {
  config: AgentConfig;
  dataDir: string;
  journal: Journal;
  logger: Logger;
  host: HostIdentity;
  components: Components;
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
