import { VersionedCache } from '../shared/versioned-cache.js';

/**
 * Verified agent tokens kept in memory, so the hot path (lease renewals, uploads) need not hash the
 * token and read the agents table on every request.
 *
 * Safety: an entry is only trusted while the store's `version()` is the one it was cached at. The
 * version changes whenever another connection commits (the admin CLI revoking an agent, changing a
 * product) and whenever this process invalidates it, so a revoked agent's next request misses the
 * cache, reads the agents table and gets 401. Only tokens that verified (known, not revoked) are
 * cached: unknown tokens can never fill the map. The map is bounded; at the bound the least
 * recently verified entry goes (it is verified again from the database on its next request).
 */
export class VerifiedTokens<V> extends VersionedCache<string, V> {}
