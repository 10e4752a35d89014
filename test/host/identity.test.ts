import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { defaultRouteInterface, detectHostIdentity, distroOf, linuxIdentity, macOf, parseOsRelease } from '../../src/host/identity.js';

const UBUNTU_OS_RELEASE = `PRETTY_NAME="Ubuntu 22.04.3 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.3 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
`;
const UBUNTU_LSB = `DISTRIB_ID=Ubuntu
DISTRIB_RELEASE=22.04
DISTRIB_CODENAME=jammy
DISTRIB_DESCRIPTION="Ubuntu 22.04.3 LTS"
`;
const ROUTE = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0
eth0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0
eth0\t00000000\t0100A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0
docker0\t00000000\t00000000\t0002\t0\t0\t0\t00000000\t0\t0\t0
`;

test('os-release: quotes and escapes removed, comments and junk ignored', () => {
  assert.deepEqual(parseOsRelease('# c\nNAME="Fedora Linux"\nVERSION_ID=39\nX=\'a b\'\nESC="a\\"b"\nnot a line\n'), {
    NAME: 'Fedora Linux',
    VERSION_ID: '39',
    X: 'a b',
    ESC: 'a"b',
  });
});

test('distro and version as systeminformation reports them', () => {
  assert.deepEqual(distroOf({ ...parseOsRelease(UBUNTU_OS_RELEASE), ...parseOsRelease(UBUNTU_LSB) }), { distro: 'Ubuntu', version: '22.04.3 LTS' });
  assert.deepEqual(
    distroOf(parseOsRelease('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION="12 (bookworm)"\n')),
    {
      distro: 'Debian GNU/Linux',
      version: '12',
    },
  );
  assert.deepEqual(distroOf(parseOsRelease('NAME="Arch Linux"\nPRETTY_NAME="Arch Linux"\nBUILD_ID=rolling\n')), { distro: 'Arch Linux', version: '' });
  assert.deepEqual(distroOf(parseOsRelease('NAME=Alpine\nVERSION_ID=3.19.1\nPRETTY_NAME="Alpine Linux v3.19"\n')), { distro: 'Alpine', version: '3.19.1' });
  assert.deepEqual(distroOf({}), { distro: '', version: '' });
});

test('default route: destination and mask 0, up, lowest metric; none -> null', () => {
  assert.equal(defaultRouteInterface(ROUTE), 'eth0');
  assert.equal(
    defaultRouteInterface(
      ROUTE.split('\n')
        .filter((l) => !l.startsWith('eth0'))
        .join('\n'),
    ),
    'wlan0',
  );
  // docker0's route is not up (flags 0002): never chosen.
  assert.equal(
    defaultRouteInterface(
      ROUTE.split('\n')
        .filter((l) => !/^(eth0|wlan0)/.test(l))
        .join('\n'),
    ),
    null,
  );
  assert.equal(defaultRouteInterface(''), null);
});

test('MAC of the default-route interface, else the first non-internal one', () => {
  const ni = (mac: string, internal = false) => ({ address: '10.0.0.1', netmask: '255.0.0.0', family: 'IPv4' as const, mac, internal, cidr: null });
  const ifaces = { lo: [ni('00:00:00:00:00:00', true)], eth0: [ni('aa:aa:aa:aa:aa:01')], wlan0: [ni('bb:bb:bb:bb:bb:02')], tun0: [ni('00:00:00:00:00:00')] };
  assert.equal(macOf('wlan0', ifaces), 'bb:bb:bb:bb:bb:02');
  assert.equal(macOf('tun0', ifaces), 'aa:aa:aa:aa:aa:01');
  assert.equal(macOf(null, ifaces), 'aa:aa:aa:aa:aa:01');
  assert.equal(macOf('gone0', { lo: ifaces.lo }), null);
});

test('linuxIdentity reads os-release, lsb-release, machine-id and the route table under a root', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'identity-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'etc'));
  mkdirSync(join(root, 'proc/net'), { recursive: true });
  mkdirSync(join(root, 'var/lib/dbus'), { recursive: true });
  writeFileSync(join(root, 'etc/os-release'), UBUNTU_OS_RELEASE);
  writeFileSync(join(root, 'etc/lsb-release'), UBUNTU_LSB);
  writeFileSync(join(root, 'var/lib/dbus/machine-id'), '0123456789abcdef0123456789abcdef\n');
  writeFileSync(join(root, 'proc/net/route'), ROUTE);
  const id = linuxIdentity(root);
  assert.equal(id.os, 'linux Ubuntu');
  assert.equal(id.osRelease, '22.04.3 LTS');
  assert.equal(id.machineId, '0123456789abcdef0123456789abcdef');
});

test('on this Linux host: the same identity systeminformation reports, without loading it', async () => {
  const mine = await detectHostIdentity();
  const si = await import('systeminformation');
  const [osInfo, uuid, iface] = await Promise.all([si.osInfo(), si.uuid(), si.networkInterfaceDefault()]);
  assert.equal(mine.os, `${osInfo.platform} ${osInfo.distro}`);
  assert.equal(mine.osRelease, osInfo.release);
  assert.equal(mine.machineId, uuid.os);
  const list = await si.networkInterfaces();
  const mac = (Array.isArray(list) ? list : [list]).find((n) => n.iface === iface)?.mac;
  assert.ok(mac && mac !== '00:00:00:00:00:00', 'this host has a default-route interface with a MAC');
  assert.equal(mine.primaryMac, mac);
});
