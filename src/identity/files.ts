import { readFileSync, statSync } from 'node:fs';
import type { NameLookup } from './resolver.js';

/**
 * uid -> user name and gid -> group name from /etc/passwd and /etc/group, cached: the "files"
 * source of NSS, read directly so local accounts are named synchronously on the sampler's path.
 * A miss re-reads the file only if it changed (mtime), so a user added after start is found and an
 * unknown uid (a directory user, a deleted user, a container uid) costs one stat, not a parse.
 * Directory users (SSSD, winbind, LDAP, extrausers) are the IdentityResolver's NSS lookups.
 */
export class PasswdNames implements NameLookup {
  private users = new Map<number, string>();
  private groups = new Map<number, string>();
  private usersMtime = -1;
  private groupsMtime = -1;

  constructor(
    private readonly passwdPath = '/etc/passwd',
    private readonly groupPath = '/etc/group',
  ) {
    this.refreshUsers();
    this.refreshGroups();
  }

  user(uid: number): string | null {
    const hit = this.users.get(uid);
    if (hit !== undefined) return hit;
    this.refreshUsers();
    return this.users.get(uid) ?? null;
  }

  group(gid: number): string | null {
    const hit = this.groups.get(gid);
    if (hit !== undefined) return hit;
    this.refreshGroups();
    return this.groups.get(gid) ?? null;
  }

  private refreshUsers(): void {
    const m = mtime(this.passwdPath);
    if (m === this.usersMtime) return;
    this.usersMtime = m;
    this.users = parseIdFile(this.passwdPath);
  }

  private refreshGroups(): void {
    const m = mtime(this.groupPath);
    if (m === this.groupsMtime) return;
    this.groupsMtime = m;
    this.groups = parseIdFile(this.groupPath);
  }
}

function mtime(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/** The name and numeric id of each `name:x:ID:...` line of /etc/passwd or /etc/group text (comments and malformed lines skipped). */
export function idFileEntries(text: string): Array<{ name: string; id: number }> {
  const out: Array<{ name: string; id: number }> = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const parts = line.split(':');
    const id = Number(parts[2]);
    if (parts[0] && Number.isInteger(id)) out.push({ name: parts[0], id });
  }
  return out;
}

/** id -> name from a passwd or group file; the first name for an id wins, as getpwuid would return. */
export function parseIdFile(path: string): Map<number, string> {
  const map = new Map<number, string>();
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return map;
  }
  for (const { name, id } of idFileEntries(text)) if (!map.has(id)) map.set(id, name);
  return map;
}
