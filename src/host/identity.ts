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
 * Collected once at start. systeminformation supplies the OS-specific parts (machine id, default
 * interface); it is loaded lazily because it is only needed here, and if it fails we fall back to
 * what Node itself can tell, so identity never stops the agent from starting.
 */
export async function detectHostIdentity(): Promise<HostIdentity> {
  const base: HostIdentity = {
    hostname: hostname(),
    os: platform(),
    osRelease: release(),
    arch: arch(),
    machineId: readLinuxMachineId() ?? '',
    primaryMac: firstMac(),
  };
  try {
    const si = await import('systeminformation');
    const [osInfo, uuid, defaultIface] = await Promise.all([
      si.osInfo(),
      si.uuid(),
      si.networkInterfaceDefault().catch(() => ''),
    ]);
    const ifaces = defaultIface ? await si.networkInterfaces(defaultIface) : undefined;
    const iface = Array.isArray(ifaces) ? ifaces[0] : ifaces;
    return {
      ...base,
      os: osInfo.distro ? `${osInfo.platform} ${osInfo.distro}`.trim() : base.os,
      osRelease: osInfo.release || osInfo.kernel || base.osRelease,
      machineId: base.machineId || uuid.os || '',
      primaryMac: iface?.mac && iface.mac !== '00:00:00:00:00:00' ? iface.mac : base.primaryMac,
    };
  } catch {
    return base;
  }
}

function readLinuxMachineId(): string | undefined {
  for (const path of ['/etc/machine-id', '/var/lib/dbus/machine-id']) {
    try {
      const id = readFileSync(path, 'utf8').trim();
      if (id) return id;
    } catch {
      /* try the next one */
    }
  }
  return undefined;
}

function firstMac(): string | null {
  for (const list of Object.values(networkInterfaces())) {
    for (const ni of list ?? []) {
      if (!ni.internal && ni.mac && ni.mac !== '00:00:00:00:00:00') return ni.mac;
    }
  }
  return null;
}
