/**
 * Usage event codes, numbered as in the KeyServer usage-event table
 * (shared/reference/000_2b129316064a252a.txt) so reports written for that scheme carry over.
 * "Offline" (10-13) means usage that ran without a license allocation, not merely "uploaded late".
 */
export const EventCode = {
  obtain: 1,
  return: 2,
  launch: 3,
  quit: 4,
  queue: 5,
  dequeue: 6,
  deny: 7,
  loggedLaunch: 8,
  loggedQuit: 9,
  launchOffline: 10,
  quitOffline: 11,
  loggedLaunchOffline: 12,
  loggedQuitOffline: 13,
  denyUnkeyed: 14,
  logon: 15,
  logoff: 16,
  block: 17,
  info: 18,
  up: 19,
  down: 20,
  shadowInfo: 21,
  shadowUp: 22,
  shadowDown: 23,
  audited: 24,
  issued: 25,
  revoked: 26,
  licenseIssued: 27,
  licenseRevoked: 28,
  licenseStart: 29,
  licenseStop: 30,
} as const;

export type EventCodeName = keyof typeof EventCode;
export type EventCodeNumber = (typeof EventCode)[EventCodeName];

/** Short name and description of each code, for the server's event-name table and reports. */
export const EVENT_CODE_TABLE: ReadonlyArray<{ code: number; name: string; description: string }> = [
  { code: 1, name: 'obtain', description: 'license obtained' },
  { code: 2, name: 'return', description: 'license returned' },
  { code: 3, name: 'launch', description: 'program launched' },
  { code: 4, name: 'quit', description: 'program quit' },
  { code: 5, name: 'queue', description: 'user placed on waiting queue' },
  { code: 6, name: 'dequeue', description: 'user removed from waiting queue' },
  { code: 7, name: 'deny', description: 'program launch denied' },
  { code: 8, name: 'logged launch', description: 'logged program launched, no license control' },
  { code: 9, name: 'logged quit', description: 'logged program quit, no license control' },
  { code: 10, name: 'launch offline', description: 'offline program launch, license granted' },
  { code: 11, name: 'quit offline', description: 'offline program quit, license returned' },
  { code: 12, name: 'logged launch offline', description: 'offline logged program launched, no license control' },
  { code: 13, name: 'logged quit offline', description: 'offline logged program quit, no license control' },
  { code: 14, name: 'deny unkeyed', description: 'unkeyed program launch denied' },
  { code: 15, name: 'logon', description: 'session logon' },
  { code: 16, name: 'logoff', description: 'session logoff' },
  { code: 17, name: 'block', description: 'session blocked' },
  { code: 18, name: 'info', description: 'server information' },
  { code: 19, name: 'up', description: 'server started' },
  { code: 20, name: 'down', description: 'server stopped' },
  { code: 21, name: 'shadow info', description: 'shadow information' },
  { code: 22, name: 'shadow up', description: 'shadow started serving' },
  { code: 23, name: 'shadow down', description: 'shadow stopped serving' },
  { code: 24, name: 'audited', description: 'audit completed' },
  { code: 25, name: 'issued', description: 'server lease issued' },
  { code: 26, name: 'revoked', description: 'server lease revoked' },
  { code: 27, name: 'license issued', description: 'license lease issued' },
  { code: 28, name: 'license revoked', description: 'license lease revoked' },
  { code: 29, name: 'license start', description: 'license usage start' },
  { code: 30, name: 'license stop', description: 'license usage stop' },
];

/** License types as the reference scheme names them; they decide which event codes apply. */
export const LICENSE_TYPES = ['floating', 'site', 'leased', 'node-locked'] as const;
export type LicenseType = (typeof LICENSE_TYPES)[number];
