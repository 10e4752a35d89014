import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killChild, startXvfb, type XServer } from './x11.js';

/**
 * A private D-Bus session bus, stopped by the caller. Its own config has no service directories:
 * nothing is auto-activated (installed packages' .service files, e.g. dunst's
 * org.freedesktop.Notifications, would otherwise start behind the test's back).
 */
export async function startSessionBus(): Promise<{ address: string; child: ChildProcess; stop(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'ua-dbus-'));
  const conf = join(dir, 'session.conf');
  writeFileSync(
    conf,
    `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir=${dir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`,
  );
  const child = spawn('dbus-daemon', [`--config-file=${conf}`, '--nofork', '--print-address=1'], { stdio: ['ignore', 'pipe', 'ignore'] });
  child.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const address = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('dbus-daemon did not print its address')), 10_000);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.includes('\n')) {
        clearTimeout(timer);
        resolve(out.trim());
      }
    });
    child.once('exit', (code) => reject(new Error(`dbus-daemon exited with ${code}`)));
  });
  return { address, child, stop: () => killChild(child) };
}

/**
 * A desktop for a session agent: an X server and a private session bus, both stopped when the test
 * ends; `env` is the X server's with DBUS_SESSION_BUS_ADDRESS.
 */
export async function startDesktop(t: {
  after(fn: () => Promise<void> | void): void;
}): Promise<{ x: XServer; bus: { address: string }; env: NodeJS.ProcessEnv }> {
  const x = await startXvfb();
  t.after(() => x.stop());
  const bus = await startSessionBus();
  t.after(() => bus.stop());
  return { x, bus, env: { ...x.env, DBUS_SESSION_BUS_ADDRESS: bus.address } };
}

/** python3 with PyGObject (python3-gi), for a stand-in D-Bus service that owns a well-known name. */
export const PYTHON_GI = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/**
 * The script of a python3-gi stand-in service on the session or system bus: `setup` runs once
 * `conn` is connected; then it owns `name`, prints "ready", and for each line on stdin runs
 * `emit` (the body of emit(line), indented) and prints "emitted LINE" (see startStandIn).
 */
function standInScript(bus: 'SESSION' | 'SYSTEM', name: string, setup: string, emit: string): string {
  return `
import sys, time
from gi.repository import Gio, GLib
loop = GLib.MainLoop()
conn = Gio.bus_get_sync(Gio.BusType.${bus}, None)
${setup}
def emit(line):${emit}
def acquired(c, name):
    print("ready", flush=True)
Gio.bus_own_name_on_connection(conn, "${name}", Gio.BusNameOwnerFlags.NONE, acquired, None)
def on_stdin(ch, cond):
    line = sys.stdin.readline().strip()
    if not line:
        loop.quit()
        return False
    emit(line)
    conn.flush_sync(None)
    print("emitted " + line, flush=True)
    return True
GLib.io_add_watch(GLib.IOChannel.unix_new(0), GLib.PRIORITY_DEFAULT, GLib.IO_IN | GLib.IO_HUP, on_stdin)
loop.run()
`;
}

/**
 * A stand-in screensaver: owns org.freedesktop.ScreenSaver on the session bus and emits
 * ActiveChanged(b) (what GNOME, KDE, xfce4-screensaver and light-locker emit) when told on stdin.
 */
const SCREENSAVER_PY = standInScript(
  'SESSION',
  'org.freedesktop.ScreenSaver',
  '',
  `
    conn.emit_signal(None, "/org/freedesktop/ScreenSaver", "org.freedesktop.ScreenSaver", "ActiveChanged", GLib.Variant("(b)", (line == "lock",)))`,
);

export interface ScreenSaver {
  /** Emits ActiveChanged(true|false); resolves once it is on the bus. */
  set(active: boolean): Promise<void>;
  stop(): Promise<void>;
}

export async function startScreenSaver(env: NodeJS.ProcessEnv): Promise<ScreenSaver> {
  const standIn = await startStandIn(SCREENSAVER_PY, [], env, 'screensaver stand-in');
  return { set: (active) => standIn.send(active ? 'lock' : 'unlock'), stop: standIn.stop };
}

/**
 * A python3-gi stand-in service: prints "ready" once it owns its name, and "emitted WORD" after it
 * emitted the signal for each WORD line written to its stdin.
 */
async function startStandIn(
  code: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  what: string,
): Promise<{ send(line: string, word?: string): Promise<void>; stop(): Promise<void> }> {
  const child = spawn(PYTHON_GI, ['-c', code, ...args], { env, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = lineWaiter(child, what);
  try {
    await lines.wait('ready', 1);
  } catch (err) {
    await killChild(child);
    throw err;
  }
  const sent = new Map<string, number>();
  return {
    /** Writes `line`; resolves once the stand-in printed "emitted WORD" (WORD: the line itself unless given). */
    async send(line, word = line) {
      const n = (sent.get(word) ?? 0) + 1;
      sent.set(word, n);
      child.stdin!.write(`${line}\n`);
      await lines.wait(`emitted ${word}`, n);
    },
    stop: () => killChild(child),
  };
}

/**
 * A stand-in logind (systemd-logind cannot run without systemd as PID 1): owns
 * org.freedesktop.login1 on the given bus (used as the system bus through DBUS_SYSTEM_BUS_ADDRESS)
 * and exports one session object with logind's Id / IdleHint / IdleSinceHint /
 * IdleSinceHintMonotonic properties. `idle` / `active` on stdin flip IdleHint and emit
 * PropertiesChanged with all three values, stamped with CLOCK_MONOTONIC like logind does.
 */
const LOGIND_PY = standInScript(
  'SYSTEM',
  'org.freedesktop.login1',
  `
SESSION_ID = sys.argv[1]
PATH = "/org/freedesktop/login1/session/" + "".join(c if c.isalpha() or (i > 0 and c.isdigit()) else "_%02x" % ord(c) for i, c in enumerate(SESSION_ID))
XML = """<node><interface name="org.freedesktop.login1.Session">
<property name="Id" type="s" access="read"/><property name="IdleHint" type="b" access="read"/>
<property name="IdleSinceHint" type="t" access="read"/><property name="IdleSinceHintMonotonic" type="t" access="read"/>
</interface></node>"""
state = {"idle": False, "mono": time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000, "real": time.time_ns() // 1000}
def values():
    return {"IdleHint": GLib.Variant("b", state["idle"]), "IdleSinceHint": GLib.Variant("t", state["real"]), "IdleSinceHintMonotonic": GLib.Variant("t", state["mono"])}
def get_property(conn, sender, path, iface, name):
    if name == "Id":
        return GLib.Variant("s", SESSION_ID)
    return values()[name]
info = Gio.DBusNodeInfo.new_for_xml(XML).interfaces[0]
conn.register_object(PATH, info, None, get_property, None)`,
  `
    state["idle"] = line == "idle"
    state["mono"] = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    state["real"] = time.time_ns() // 1000
    conn.emit_signal(None, PATH, "org.freedesktop.DBus.Properties", "PropertiesChanged", GLib.Variant("(sa{sv}as)", ("org.freedesktop.login1.Session", values(), [])))`,
);

export interface Logind {
  /** Sets IdleHint (true = idle) and emits PropertiesChanged; resolves once it is on the bus. */
  setIdle(idle: boolean): Promise<void>;
  stop(): Promise<void>;
}

/** `env` must carry DBUS_SYSTEM_BUS_ADDRESS (a private bus from startSessionBus()). */
export async function startLogind(env: NodeJS.ProcessEnv, sessionId: string): Promise<Logind> {
  const standIn = await startStandIn(LOGIND_PY, [sessionId], env, 'logind stand-in');
  return { setIdle: (idle) => standIn.send(idle ? 'idle' : 'active'), stop: standIn.stop };
}

/** Waits for a stand-in's stdout to hold `line` at least `count` times. */
function lineWaiter(child: ChildProcess, what: string): { wait(line: string, count: number): Promise<void> } {
  let out = '';
  const waiters: Array<() => void> = [];
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    for (const w of [...waiters]) w();
  });
  return {
    wait: (line, count) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${what}: no "${line}" (output: ${out})`)), 10_000);
        const check = () => {
          if (out.split('\n').filter((l) => l === line).length >= count) {
            clearTimeout(timer);
            waiters.splice(waiters.indexOf(check), 1);
            resolve();
          }
        };
        waiters.push(check);
        check();
      }),
  };
}

/**
 * A stand-in logind Manager for logon/logoff: owns org.freedesktop.login1 on the given bus (used
 * as the system bus) with ListSessions and the SessionNew / SessionRemoved signals, and a session
 * object per session with Id, Name, User, Timestamp (us, realtime), Display, Type, Class.
 * `new ID UID NAME TYPE DISPLAY` and `remove ID` on stdin add / remove a session and emit the signal.
 */
const LOGIND_MANAGER_PY = `
import sys, time
from gi.repository import Gio, GLib
XML_M = """<node><interface name="org.freedesktop.login1.Manager">
<method name="ListSessions"><arg type="a(susso)" direction="out"/></method>
<signal name="SessionNew"><arg type="s"/><arg type="o"/></signal><signal name="SessionRemoved"><arg type="s"/><arg type="o"/></signal>
</interface></node>"""
XML_S = """<node><interface name="org.freedesktop.login1.Session">
<property name="Id" type="s" access="read"/><property name="Name" type="s" access="read"/>
<property name="User" type="(uo)" access="read"/><property name="Timestamp" type="t" access="read"/>
<property name="Display" type="s" access="read"/><property name="Type" type="s" access="read"/>
<property name="Class" type="s" access="read"/>
</interface></node>"""
def path_of(sid):
    return "/org/freedesktop/login1/session/" + "".join(c if c.isalpha() or (i > 0 and c.isdigit()) else "_%02x" % ord(c) for i, c in enumerate(sid))
sessions = {}
loop = GLib.MainLoop()
conn = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)
iface_m = Gio.DBusNodeInfo.new_for_xml(XML_M).interfaces[0]
iface_s = Gio.DBusNodeInfo.new_for_xml(XML_S).interfaces[0]
def call_m(conn, sender, path, iface, method, params, inv):
    inv.return_value(GLib.Variant("(a(susso))", ([(s["id"], s["uid"], s["name"], "seat0", path_of(s["id"])) for s in sessions.values()],)))
conn.register_object("/org/freedesktop/login1", iface_m, call_m, None, None)
def add(sid, uid, name, typ, display):
    s = {"id": sid, "uid": uid, "name": name, "type": typ, "display": display, "ts": time.time_ns() // 1000}
    def get(conn, sender, path, iface, prop):
        return {"Id": GLib.Variant("s", s["id"]), "Name": GLib.Variant("s", s["name"]), "User": GLib.Variant("(uo)", (s["uid"], "/org/freedesktop/login1/user/_%d" % s["uid"])),
                "Timestamp": GLib.Variant("t", s["ts"]), "Display": GLib.Variant("s", s["display"]), "Type": GLib.Variant("s", s["type"]), "Class": GLib.Variant("s", "user")}[prop]
    s["reg"] = conn.register_object(path_of(sid), iface_s, None, get, None)
    sessions[sid] = s
def acquired(c, name):
    print("ready", flush=True)
for spec in sys.argv[1:]:
    sid, uid, name, typ, display = spec.split(",")
    add(sid, int(uid), name, typ, display if display != "-" else "")
Gio.bus_own_name_on_connection(conn, "org.freedesktop.login1", Gio.BusNameOwnerFlags.NONE, acquired, None)
def on_stdin(ch, cond):
    line = sys.stdin.readline().strip()
    if not line:
        loop.quit()
        return False
    words = line.split(" ")
    if words[0] == "new":
        add(words[1], int(words[2]), words[3], words[4], words[5] if words[5] != "-" else "")
        conn.emit_signal(None, "/org/freedesktop/login1", "org.freedesktop.login1.Manager", "SessionNew", GLib.Variant("(so)", (words[1], path_of(words[1]))))
    elif words[0] == "remove":
        s = sessions.pop(words[1])
        conn.unregister_object(s["reg"])
        conn.emit_signal(None, "/org/freedesktop/login1", "org.freedesktop.login1.Manager", "SessionRemoved", GLib.Variant("(so)", (words[1], path_of(words[1]))))
    conn.flush_sync(None)
    print("emitted " + words[0], flush=True)
    return True
GLib.io_add_watch(GLib.IOChannel.unix_new(0), GLib.PRIORITY_DEFAULT, GLib.IO_IN | GLib.IO_HUP, on_stdin)
loop.run()
`;

export interface LogindSessions {
  add(s: { id: string; uid: number; name: string; type: string; display?: string }): Promise<void>;
  remove(id: string): Promise<void>;
  stop(): Promise<void>;
}

/** `env` must carry DBUS_SYSTEM_BUS_ADDRESS (a private bus from startSessionBus()). */
export async function startLogindSessions(
  env: NodeJS.ProcessEnv,
  initial: Array<{ id: string; uid: number; name: string; type: string; display?: string }>,
): Promise<LogindSessions> {
  const args = initial.map((s) => [s.id, s.uid, s.name, s.type, s.display || '-'].join(','));
  const standIn = await startStandIn(LOGIND_MANAGER_PY, args, env, 'logind manager stand-in');
  return {
    add: (s) => standIn.send(`new ${s.id} ${s.uid} ${s.name} ${s.type} ${s.display || '-'}`, 'new'),
    remove: (id) => standIn.send(`remove ${id}`, 'remove'),
    stop: standIn.stop,
  };
}
