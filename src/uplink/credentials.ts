import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../shared/atomic-file.js';

/** What enrollment returns, kept in <dataDir>/credentials.json (mode 0600). */
export interface Credentials {
  serverUrl: string;
  agentId: string;
  agentToken: string;
  enrolledAt: string;
  /** Key of the records' MACs (base64url, protocol/integrity.ts); absent from servers without tamper evidence. */
  recordKey?: string;
}

export const credentialsPath = (dataDir: string) => join(dataDir, 'credentials.json');

/** The credentials kept for one of `serverUrls` (servers sharing one database share the enrollment). */
export function loadCredentials(dataDir: string, serverUrls: readonly string[]): Credentials | undefined {
  try {
    const c = JSON.parse(readFileSync(credentialsPath(dataDir), 'utf8')) as Credentials;
    // Credentials of another server are no use here (the agent was re-pointed): enroll again.
    if (!serverUrls.includes(c.serverUrl) || typeof c.agentToken !== 'string' || typeof c.agentId !== 'string') return undefined;
    return c;
  } catch {
    return undefined;
  }
}

/** The record key kept with the credentials, whichever server they are for (a re-pointed agent re-MACs with the next one). */
export function loadRecordKey(dataDir: string): Buffer | undefined {
  try {
    const k = (JSON.parse(readFileSync(credentialsPath(dataDir), 'utf8')) as Credentials).recordKey;
    return typeof k === 'string' && k.length > 0 ? Buffer.from(k, 'base64url') : undefined;
  } catch {
    return undefined;
  }
}

export function saveCredentials(dataDir: string, c: Credentials): void {
  writeFileAtomic(credentialsPath(dataDir), `${JSON.stringify(c, null, 2)}\n`, { mode: 0o600, mkdir: true });
}
