import { readFileSync } from 'node:fs';
import { join, posix, win32 } from 'node:path';
import { PACKAGE_ROOT } from '../config/paths.js';
import { AGENT_NODE_FLAGS } from './node-flags.js';
import { renderTemplate, type TemplateFormat, type TemplateValue } from './render.js';

export type ServiceOs = 'linux' | 'darwin' | 'win32';
export const SERVICE_OSES: readonly ServiceOs[] = ['linux', 'darwin', 'win32'];

/** Where everything lives on one machine: the values of the templates' placeholders. */
export interface ServiceLayout {
  os: ServiceOs;
  /** The Node binary the services run (its ABI must match the native modules under prefix). */
  node: string;
  /** The application directory: holds package.json, dist/src and node_modules. */
  prefix: string;
  config: string;
  sessionConfig: string;
  dataDir: string;
  /** Where session agents reach the daemon (Unix socket, or a named pipe on Windows). */
  socket: string;
  serverConfig: string;
  serverDataDir: string;
  /** Log directory for platforms without a system journal (macOS, Windows). */
  logDir: string;
  version: string;
}

export interface LayoutOverrides {
  node?: string;
  prefix?: string;
  config?: string;
  dataDir?: string;
  version?: string;
}

export function packageVersion(root = PACKAGE_ROOT): string {
  return (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
}

/** The conventional locations on each OS; overrides (CLI flags, the packager) win. */
export function defaultLayout(os: ServiceOs, overrides: LayoutOverrides = {}): ServiceLayout {
  const version = overrides.version ?? packageVersion();
  if (os === 'linux') {
    return {
      os,
      node: overrides.node ?? process.execPath,
      prefix: overrides.prefix ?? PACKAGE_ROOT,
      config: overrides.config ?? '/etc/usage-agent/agent.json',
      sessionConfig: '/etc/usage-agent/session.json',
      dataDir: overrides.dataDir ?? '/var/lib/usage-agent',
      // systemd's RuntimeDirectory=usage-agent creates /run/usage-agent for the daemon.
      socket: '/run/usage-agent/agent.sock',
      serverConfig: '/etc/usage-agent/server.json',
      serverDataDir: '/var/lib/usage-server',
      logDir: '/var/log/usage-agent',
      version,
    };
  }
  if (os === 'darwin') {
    const support = '/Library/Application Support/usage-agent';
    const prefix = overrides.prefix ?? (process.platform === 'darwin' ? PACKAGE_ROOT : '/usr/local/usage-agent');
    return {
      os,
      node: overrides.node ?? (process.platform === 'darwin' ? process.execPath : posix.join(prefix, 'node', 'bin', 'node')),
      prefix,
      config: overrides.config ?? posix.join(support, 'agent.json'),
      sessionConfig: posix.join(support, 'session.json'),
      dataDir: overrides.dataDir ?? posix.join(support, 'data'),
      socket: '/var/run/usage-agent/agent.sock',
      serverConfig: posix.join(support, 'server.json'),
      serverDataDir: posix.join(support, 'server'),
      logDir: '/Library/Logs/usage-agent',
      version,
    };
  }
  const programData = 'C:\\ProgramData\\usage-agent';
  const prefix = overrides.prefix ?? (process.platform === 'win32' ? PACKAGE_ROOT : 'C:\\Program Files\\usage-agent');
  return {
    os,
    node: overrides.node ?? (process.platform === 'win32' ? process.execPath : win32.join(prefix, 'node', 'node.exe')),
    prefix,
    config: overrides.config ?? win32.join(programData, 'agent.json'),
    sessionConfig: win32.join(programData, 'session.json'),
    dataDir: overrides.dataDir ?? win32.join(programData, 'data'),
    socket: '\\\\.\\pipe\\usage-agent',
    serverConfig: win32.join(programData, 'server.json'),
    serverDataDir: win32.join(programData, 'server'),
    logDir: win32.join(programData, 'logs'),
    version,
  };
}

function pathApi(os: ServiceOs) {
  return os === 'win32' ? win32 : posix;
}

/** Placeholder values: strings, and word lists (AGENT_NODE_FLAGS) that render as several arguments. */
export type TemplateVars = Record<string, TemplateValue>;

/** The placeholder values of a layout. */
export function templateVars(layout: ServiceLayout): TemplateVars {
  const p = pathApi(layout.os);
  return {
    NODE: layout.node,
    AGENT_NODE_FLAGS,
    PREFIX: layout.prefix,
    AGENT_JS: p.join(layout.prefix, 'dist', 'src', 'cli', 'usage-agent.js'),
    SERVER_JS: p.join(layout.prefix, 'dist', 'src', 'server', 'cli.js'),
    CONFIG: layout.config,
    SESSION_CONFIG: layout.sessionConfig,
    DATA_DIR: layout.dataDir,
    SOCKET: layout.socket,
    SERVER_CONFIG: layout.serverConfig,
    SERVER_DATA_DIR: layout.serverDataDir,
    LOG_DIR: layout.logDir,
    VERSION: layout.version,
  };
}

/** What a definition is for; install/uninstall plans and the packagers select by role. */
export type DefinitionRole = 'daemon' | 'daemon-user' | 'session' | 'session-autostart' | 'server' | 'config' | 'session-config' | 'server-config';

export interface Definition {
  role: DefinitionRole;
  /** Template path relative to the template directory (service/ in the package). */
  template: string;
  format: TemplateFormat;
  /** Where `usage-agent service install` puts it. */
  target: string;
  mode: number;
  /** Configuration: written only when absent, never overwritten or removed without --purge. */
  config: boolean;
  /** Task Scheduler wants its XML in UTF-16 with a byte-order mark. */
  encoding: 'utf8' | 'utf16le';
}

/** Every definition the OS gets, with the place `service install` writes it. */
export function definitionsFor(layout: ServiceLayout): Definition[] {
  const p = pathApi(layout.os);
  const cfg = (role: DefinitionRole, template: string, target: string, mode: number): Definition => ({
    role,
    template,
    format: 'json',
    target,
    mode,
    config: true,
    encoding: 'utf8',
  });
  // agent.json may come to hold server.enrollSecret: readable by root only. The session config is
  // read by every user's session agent and holds nothing secret.
  const configs = [
    cfg('config', 'config/agent.json', layout.config, 0o600),
    cfg('session-config', 'config/session.json', layout.sessionConfig, 0o644),
    cfg('server-config', 'config/server.json', layout.serverConfig, 0o600),
  ];
  const def = (role: DefinitionRole, template: string, format: TemplateFormat, target: string, encoding: Definition['encoding'] = 'utf8'): Definition => ({
    role,
    template,
    format,
    target,
    mode: 0o644,
    config: false,
    encoding,
  });
  switch (layout.os) {
    case 'linux':
      return [
        def('daemon', 'systemd/usage-agent.service', 'systemd', '/etc/systemd/system/usage-agent.service'),
        // The daemon's system user, for systemd-sysusers (the unit's User=).
        def('daemon-user', 'systemd/usage-agent.sysusers', 'text', '/etc/sysusers.d/usage-agent.conf'),
        def('session', 'systemd/usage-agent-session.service', 'systemd', '/etc/systemd/user/usage-agent-session.service'),
        def('session-autostart', 'xdg/usage-agent-session.desktop', 'desktop', '/etc/xdg/autostart/usage-agent-session.desktop'),
        def('server', 'systemd/usage-server.service', 'systemd', '/etc/systemd/system/usage-server.service'),
        ...configs,
      ];
    case 'darwin':
      return [
        def('daemon', 'launchd/org.usage-agent.agent.plist', 'xml', '/Library/LaunchDaemons/org.usage-agent.agent.plist'),
        def('session', 'launchd/org.usage-agent.session.plist', 'xml', '/Library/LaunchAgents/org.usage-agent.session.plist'),
        ...configs,
      ];
    case 'win32':
      return [
        def('daemon', 'windows/usage-agent.xml', 'xml', p.join(layout.prefix, 'winsw', 'usage-agent.xml')),
        def('session', 'windows/usage-agent-session.task.xml', 'xml', p.join(p.dirname(layout.config), 'usage-agent-session.task.xml'), 'utf16le'),
        ...configs,
      ];
  }
}

export const TEMPLATE_DIR = join(PACKAGE_ROOT, 'service');

export function readTemplate(template: string, templateDir = TEMPLATE_DIR): string {
  return readFileSync(join(templateDir, template), 'utf8');
}

export interface RenderedDefinition extends Definition {
  contents: string;
}

export function renderDefinition(definition: Definition, layout: ServiceLayout, templateDir = TEMPLATE_DIR): RenderedDefinition {
  const contents = renderTemplate(readTemplate(definition.template, templateDir), templateVars(layout), definition.format);
  return { ...definition, contents };
}

/** Bytes on disk: UTF-16 LE with BOM where the consumer requires it. */
export function encodeContents(definition: Pick<Definition, 'encoding'>, contents: string): Buffer {
  if (definition.encoding === 'utf16le') return Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(contents.replace(/\r?\n/g, '\r\n'), 'utf16le')]);
  return Buffer.from(contents, 'utf8');
}
