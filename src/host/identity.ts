import { readFileSync } from 'node:fs';
import { arch, hostname, networkInterfaces, platform, release } from 'node:os';

export interface HostIdentity {
  hostname: string;
  os: string;
  osRelease: string;
  arch: string;
  /** Stable per installation (/etc/machine-id, the registry MachineGuid, IOPlatformUUID). */
  machineId: string;
  /** MAC of the interface carrying the default route, or of the first non-internal one. */
  primaryMac: string | null;
}

/**
 * Collected once at start. On Linux everything is read directly (/etc/os-release,
 * /etc/machine-id, /proc/net/route, os.networkInterfaces()): systeminformation would cost the
 * resident daemon ~11 MB of RSS for what a few small files tell. On macOS and Windows
 * systeminformation supplies the OS-specific parts (IOPlatformUUID / MachineGuid, the default
 * interface) and is loaded lazily, only there. If anything fails we fall back to what Node itself
 * can tell, so identity never stops the agent from starting.
 */
export async function detectHostIdentity(): Promise<HostIdentity> {
  if (platform() === 'linux') return linuxIdentity();
  const base: HostIdentity = {
    hostname: hostname(),
    os: platform(),
    osRelease: release(),
    arch: arch(),
    machineId: '',
    primaryMac: macOf(null, networkInterfaces()),
  };
  try {
    const si = await import('systeminformation');
    const [osInfo, uuid, defaultIface] = await Promise.all([si.osInfo(), si.uuid(), si.networkInterfaceDefault().catch(() => '')]);
    const ifaces = defaultIface ? await si.networkInterfaces(defaultIface) : undefined;
    const iface = Array.isArray(ifaces) ? ifaces[0] : ifaces;
    return {
      ...base,
      os: osInfo.distro ? `${osInfo.platform} ${osInfo.distro}`.trim() : base.os,
      osRelease: osInfo.release || osInfo.kernel || base.osRelease,
      machineId: uuid.os || '',
      primaryMac: iface?.mac && iface.mac !== '00:00:00:00:00:00' ? iface.mac : base.primaryMac,
    };
  } catch {
    return base;
  }
}

/** Linux: the same values systeminformation reports there (distro NAME, VERSION_ID), read directly. */
export function linuxIdentity(root = ''): HostIdentity {
  const { distro, version } = distroOf({
    ...parseOsRelease(readText(`${root}/etc/os-release`) ?? readText(`${root}/usr/lib/os-release`) ?? ''),
    ...parseOsRelease(readText(`${root}/etc/lsb-release`) ?? ''),
  });
  let machineId = '';
  for (const path of [`${root}/etc/machine-id`, `${root}/var/lib/dbus/machine-id`]) {
    machineId = readText(path)?.trim() ?? '';
    if (machineId) break;
  }
  return {
    hostname: hostname(),
    os: distro ? `linux ${distro}` : 'linux',
    osRelease: version || release(),
    arch: arch(),
    machineId,
    primaryMac: macOf(defaultRouteInterface(readText(`${root}/proc/net/route`) ?? ''), networkInterfaces()),
  };
}

/**
 * Distribution name and version as systeminformation's osInfo() reports them on Linux (the values
 * earlier agent versions sent): DISTRIB_ID or NAME; the version from PRETTY_NAME/VERSION without
 * the parenthesised codename ("22.04.3 LTS", "12"), else DISTRIB_RELEASE or VERSION_ID (unlike
 * systeminformation, a PRETTY_NAME remainder that is not a version is not taken).
 */
export function distroOf(r: Record<string, string>): { distro: string; version: string } {
  const distro = r.DISTRIB_ID || r.NAME || '';
  let version = r.VERSION ?? '';
  const pretty = r.PRETTY_NAME ?? '';
  const rest = distro && pretty.startsWith(`${distro} `) ? pretty.slice(distro.length + 1).trim() : '';
  if (/^\d/.test(rest)) version = rest; // not "Linux v3.19" from "Alpine Linux v3.19"
  if (version.includes('(')) version = version.split('(')[0]!.trim();
  return { distro, version: version || r.DISTRIB_RELEASE || r.VERSION_ID || '' };
}

/** KEY=value lines of os-release(5) / lsb-release, quotes removed. */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) continue;
    let v = m[2]!.trim();
    if (v.length >= 2 && (v[0] === '"' || v[0] === "'") && v.endsWith(v[0])) v = v.slice(1, -1);
    out[m[1]!] = v.replace(/\\(["'$`\\])/g, '$1');
  }
  return out;
}

/**
 * The interface of the IPv4 default route (destination 0, mask 0, flag RTF_UP) with the lowest
 * metric, from /proc/net/route; null when there is none.
 */
export function defaultRouteInterface(routeTable: string): string | null {
  let best: { iface: string; metric: number } | null = null;
  for (const line of routeTable.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const [iface, dest, , flags, , , metric, mask] = f;
    if (dest !== '00000000' || mask !== '00000000' || (Number.parseInt(flags!, 16) & 1) === 0) continue;
    const m = Number(metric);
    if (!best || m < best.metric) best = { iface: iface!, metric: m };
  }
  return best?.iface ?? null;
}

type Interfaces = ReturnType<typeof networkInterfaces>;

/** The MAC of `preferred` if it has one, else of the first non-internal interface. */
export function macOf(preferred: string | null, interfaces: Interfaces): string | null {
  const usable = (list: Interfaces[string]) => list?.find((ni) => !ni.internal && ni.mac && ni.mac !== '00:00:00:00:00:00')?.mac;
  if (preferred) {
    const mac = usable(interfaces[preferred]);
    if (mac) return mac;
  }
  for (const list of Object.values(interfaces)) {
    const mac = usable(list);
    if (mac) return mac;
  }
  return null;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
