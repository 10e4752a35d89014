/**
 * The daemon runs as its own system user (usage-agent.service's User=), yet its data dir may hold
 * files root made: the journal of a version whose daemon ran as root, a `-shm` file left by
 * `usage-agent records` run as root while the daemon was stopped, a data dir `service install`
 * created. SQLite would then fail to open the journal for a file mode. Holding CAP_CHOWN (it needs
 * it for the session tokens anyway), the daemon takes back its own files before it opens any.
 * Only the names the daemon itself writes are touched, and the directory only when it holds
 * nothing else: a data dir set to /var/lib by mistake is never handed over.
 */
import { chownSync, lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const OWN_FILE = /^(journal\.db(-wal|-shm|-journal)?|status\.json|usage-agent\.pid|leases\.json|pacct|credentials\.json|policy\.json)(\.\d+\.tmp)?$/;
/** Not files, but the daemon's too when the session socket is in the data dir (the default): the socket and its token directory (whose files belong to their users and stay theirs). */
const OWN_OTHER = new Set(['agent.sock', 'tokens']);
const own = (e: { name: string; isFile: boolean }): boolean => (e.isFile ? OWN_FILE.test(e.name) : OWN_OTHER.has(e.name));

export interface Owner {
  uid: number;
  gid: number;
}

/** The paths whose owner must change (pure over a listing, for tests; the directory first). */
export function pathsToAdopt(
  dataDir: string,
  dirOwner: Owner,
  entries: ReadonlyArray<{ name: string; uid: number; gid: number; isFile: boolean }>,
  self: Owner,
): string[] {
  const mine = (o: Owner) => o.uid === self.uid && o.gid === self.gid;
  const out: string[] = [];
  const foreign = entries.filter((e) => !own(e));
  if (!mine(dirOwner) && foreign.length === 0) out.push(dataDir);
  for (const e of entries) if (own(e) && !mine(e)) out.push(join(dataDir, e.name));
  return out;
}

/** Chowns what pathsToAdopt names to this process; returns what was adopted (empty as root). */
export function adoptDataDir(dataDir: string, self: Owner, canChown: boolean): string[] {
  if (self.uid === 0 || !canChown) return [];
  const dir = lstatSync(dataDir);
  const entries = readdirSync(dataDir, { withFileTypes: true }).map((d) => {
    const st = lstatSync(join(dataDir, d.name));
    return { name: d.name, uid: st.uid, gid: st.gid, isFile: d.isFile() };
  });
  const paths = pathsToAdopt(dataDir, { uid: dir.uid, gid: dir.gid }, entries, self);
  for (const p of paths) chownSync(p, self.uid, self.gid);
  return paths;
}
