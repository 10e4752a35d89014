/** What every route plugin is given: the config, the store, the leases and the metrics. */
import type { ServerConfig } from './config.js';
import type { IntegrityVerifier } from './integrity-verifier.js';
import type { Leases } from './leases/index.js';
import type { Metrics } from './metrics.js';
import type { Store } from './storage/store.js';

export interface ServerContext {
  cfg: ServerConfig;
  store: Store;
  leases: Leases;
  metrics: Metrics;
  /** Chain and MAC checks of large upload batches off the main thread. */
  verifier: IntegrityVerifier;
}

export interface RouteOptions {
  ctx: ServerContext;
}

/** A path parameter schema: one non-empty id of at most 128 characters. */
export const idParams = (name: string) => ({
  type: 'object',
  required: [name],
  properties: { [name]: { type: 'string', minLength: 1, maxLength: 128 } },
});
