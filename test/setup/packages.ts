/**
 * What the test suite needs from the machine, and the step that installs it: `npm test` runs this
 * before any test, so the README's one test line works on a fresh Debian/Ubuntu machine by itself.
 *
 * As root with apt-get, missing packages are installed (`apt-get update` first, no recommends).
 * Otherwise the step names the missing packages and the command that installs them, and fails:
 * the suite would only fail later, test by test, for the same reason.
 *
 *   node dist/test/setup/packages.js                 # the suite's list
 *   node dist/test/setup/packages.js --check         # report only, exit 1 when something is missing
 *   node dist/test/setup/packages.js --packages a,b  # another list (the setup's own test)
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Debian package -> why the suite needs it. */
export const TEST_PACKAGES: Readonly<Record<string, string>> = {
  postgresql: 'the usage-server tests run a second time on PostgreSQL, in a throwaway pg_virtualenv cluster',
  acct: 'accton/lastcomm/dump-acct cross-check real kernel process accounting',
  xvfb: 'a real X server for the activity and focus tests',
  xdotool: 'real XTEST input for the activity tests',
  openbox: 'a window manager that keeps _NET_ACTIVE_WINDOW for the focus tests',
  'x11-utils': 'xprop reads window properties in the focus tests',
  'x11-apps': 'xlogo/xmessage windows to focus',
  'x11-xserver-utils': "xmodmap finds key names for the privacy tests' typed text",
  'libglib2.0-bin': 'gdbus for the session-bus tests',
  dbus: 'a real session bus',
  'dbus-x11': 'the X11 session-bus glue the desktop tests start with',
  'dbus-bin': 'dbus-daemon for private buses',
  dunst: 'a real desktop-notification server',
  'libnotify-bin': 'notify-send, to compare with the agent notifications',
  libxtst6: 'the XTEST library the input hook links',
  libxrandr2: 'a library the input hook links',
  libxt6: 'a library the input hook links',
  systemd: 'systemd-analyze for the unit checks',
  'python3-gi': 'the stand-in screensaver on a private bus',
  openssl: 'certificates made in the TLS tests',
  sqlite3: "the sqlite3 CLI edits a stopped agent's journal in the tamper tests",
  chromium: "the console tests drive Debian's headless Chromium (playwright-core, never a downloaded browser)",
  'util-linux': 'setpriv checks the unit capabilities',
  'dpkg-dev': 'dpkg-deb builds the packages the packaging and software-audit tests install',
  'libnss-extrausers': 'directory users that exist only in NSS (identity tests)',
  rpm: 'rpm + rpmbuild for the rpm source and the RPM package tests',
  'python3-pynput': "the pynput listener (ActivityWatch's input method) the activity benchmark measures side by side",
  nginx: 'the reverse-proxy example (config/nginx-usage-server.conf) run in front of a real server (test/server/nginx.test.ts)',
};

/** The packages of `names` that dpkg does not list as installed. */
export function missingPackages(names: readonly string[]): string[] {
  return names.filter((p) => {
    const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', p], { encoding: 'utf8' });
    return !(r.status === 0 && r.stdout.includes('install ok installed'));
  });
}

const hasCommand = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

export interface SetupResult {
  missing: string[];
  installed: string[];
  /** Why nothing was installed although something is missing, with what to do. */
  error?: string;
}

/** Install whatever of `names` is missing, when this process may (root, apt-get); else say why not. */
export function ensurePackages(names: readonly string[], opts: { install?: boolean; log?: (line: string) => void } = {}): SetupResult {
  const log = opts.log ?? ((l: string) => process.stdout.write(`${l}\n`));
  if (!hasCommand('dpkg-query')) {
    return {
      missing: [...names],
      installed: [],
      error: `no dpkg on this machine: install these packages (Debian names) with your package manager: ${names.join(' ')}`,
    };
  }
  const missing = missingPackages(names);
  if (missing.length === 0) return { missing, installed: [] };
  const command = `apt-get update && apt-get install -y --no-install-recommends ${missing.join(' ')}`;
  if (opts.install === false) return { missing, installed: [], error: `missing: ${missing.join(' ')}; install them with: ${command}` };
  if (process.getuid?.() !== 0 || !hasCommand('apt-get')) {
    return { missing, installed: [], error: `missing: ${missing.join(' ')}; as root, run: ${command}` };
  }
  log(`test setup: installing ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = spawnSync('apt-get', ['update', '-qq'], { stdio: ['ignore', 'ignore', 'inherit'], env });
  if (update.status !== 0) return { missing, installed: [], error: `apt-get update failed (exit ${update.status}); run: ${command}` };
  const inst = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: ['ignore', 'ignore', 'inherit'], env });
  const still = missingPackages(missing);
  if (inst.status !== 0 || still.length > 0) {
    return { missing, installed: missing.filter((p) => !still.includes(p)), error: `apt-get install failed (exit ${inst.status}) for: ${still.join(' ')}` };
  }
  return { missing, installed: missing };
}

function main(argv: string[]): number {
  const i = argv.indexOf('--packages');
  const names = i >= 0 ? (argv[i + 1] ?? '').split(',').filter(Boolean) : Object.keys(TEST_PACKAGES);
  const r = ensurePackages(names, { install: !argv.includes('--check') });
  if (r.error) {
    process.stderr.write(`test setup: ${r.error}\n`);
    return 1;
  }
  if (r.missing.length === 0) process.stdout.write(`test setup: all ${names.length} packages present\n`);
  else process.stdout.write(`test setup: installed ${r.installed.join(' ')}\n`);
  return 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.exit(main(process.argv.slice(2)));
