import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { z } from 'zod';
import { ConfigError, EX_CONFIG, type ConfigIssue } from '../shared/config-error.js';
import { configSchema, type AgentConfig } from './schema.js';

export { ConfigError, EX_CONFIG };

/** The agent's wording: `config error in FILE at "key.path": what is wrong` (the key only when there is one). */
function configError(file: string, keyPath: string, detail: string, more: readonly ConfigIssue[] = []): ConfigError {
  return new ConfigError(file, [{ path: keyPath, message: detail }, ...more], `config error in ${file}${keyPath ? ` at "${keyPath}"` : ''}: ${detail}`);
}

export function formatKeyPath(path: ReadonlyArray<PropertyKey>): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('');
}

/**
 * Turns zod issues into one ConfigError: it names the first offending key (for scripts) and its
 * message lists every problem, so IT fixes a file in one pass rather than one error per restart.
 */
export function configErrorFromIssues(file: string, issues: ReadonlyArray<z.core.$ZodIssue>): ConfigError {
  const described = issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return (issue as { keys: string[] }).keys.map((key) => ({ path: formatKeyPath([...issue.path, key]), detail: 'unknown key' }));
    }
    return [{ path: formatKeyPath(issue.path), detail: issue.message }];
  });
  const [first, ...rest] = described;
  const more = rest.map((d) => `; at "${d.path}": ${d.detail}`).join('');
  return configError(
    file,
    first!.path,
    `${first!.detail}${more}`,
    rest.map((d) => ({ path: d.path, message: d.detail })),
  );
}

/** Where a JSON syntax error is, as "line L column C", from V8's "at position N" message. */
function jsonErrorLocation(text: string, message: string): string {
  const m = /position (\d+)/.exec(message);
  if (!m) return message;
  const pos = Number(m[1]);
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  const column = pos - before.lastIndexOf('\n');
  return `${message} (line ${line}, column ${column})`;
}

/**
 * Reads and validates the config file (none: all defaults), then applies CLI overrides, which are
 * validated too so a bad flag is reported like a bad key.
 */
export function loadConfig(file: string | undefined, overrides: Record<string, unknown> = {}): AgentConfig {
  const source = file ? resolve(file) : '(built-in defaults)';
  let raw: unknown = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(source, 'utf8');
    } catch (err) {
      throw configError(source, '', `cannot read file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw configError(source, '', `malformed JSON: ${jsonErrorLocation(text, (err as Error).message)}`);
    }
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      throw configError(source, '', 'the top level must be a JSON object');
    }
  }
  const merged = deepMerge(raw as Record<string, unknown>, overrides);
  const result = configSchema.safeParse(merged);
  if (!result.success) throw configErrorFromIssues(source, result.error.issues);
  return result.data;
}

/**
 * The TLS files under `server` are there and hold what they should: the CA file a certificate,
 * the client key the key of the client certificate. For the daemon at start (other commands, run
 * by users who cannot read the client key, do not call it). Throws a ConfigError naming the key.
 */
export function checkServerFiles(cfg: AgentConfig, file: string | undefined): void {
  const source = file ? resolve(file) : '(built-in defaults)';
  const s = cfg.server;
  enrollSecretOf(cfg, file);
  const read = (key: string, path: string): string => {
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      throw configError(source, `server.${key}`, `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  };
  const certificate = (key: string, path: string): X509Certificate => {
    const text = read(key, path);
    try {
      return new X509Certificate(text);
    } catch (err) {
      throw configError(source, `server.${key}`, `${path} holds no PEM certificate (${(err as Error).message})`);
    }
  };
  if (s.caFile) certificate('caFile', s.caFile);
  if (s.clientCertFile && s.clientKeyFile) {
    const cert = certificate('clientCertFile', s.clientCertFile);
    const keyText = read('clientKeyFile', s.clientKeyFile);
    let key: KeyObject;
    try {
      key = createPrivateKey(keyText);
    } catch (err) {
      throw configError(source, 'server.clientKeyFile', `${s.clientKeyFile} holds no PEM private key (${(err as Error).message})`);
    }
    if (!cert.checkPrivateKey(key))
      throw configError(source, 'server.clientKeyFile', `the key in ${s.clientKeyFile} does not belong to the certificate in ${s.clientCertFile}`);
  }
}

/** `$CREDENTIALS_DIRECTORY` / `${CREDENTIALS_DIRECTORY}` at the start of a path, from the environment (systemd LoadCredential). */
export function expandCredentialsPath(path: string, env: NodeJS.ProcessEnv = process.env): string {
  const m = /^\$(\{CREDENTIALS_DIRECTORY\}|CREDENTIALS_DIRECTORY)(?=\/|$)/.exec(path);
  if (!m) return path;
  const dir = env.CREDENTIALS_DIRECTORY;
  if (!dir) throw new Error('$CREDENTIALS_DIRECTORY is not set (no LoadCredential= in the unit?)');
  return dir + path.slice(m[0].length);
}

/**
 * The enrollment secret: server.enrollSecret, or the first line of server.enrollSecretFile.
 * Throws a ConfigError naming the key for an unreadable or empty file (the secret is never in the message).
 */
export function enrollSecretOf(cfg: AgentConfig, file: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const s = cfg.server;
  if (s.enrollSecretFile === undefined) return s.enrollSecret;
  const source = file ? resolve(file) : '(built-in defaults)';
  let path: string;
  let text: string;
  try {
    path = expandCredentialsPath(s.enrollSecretFile, env);
  } catch (err) {
    throw configError(source, 'server.enrollSecretFile', (err as Error).message);
  }
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw configError(source, 'server.enrollSecretFile', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const secret = text.split(/\r?\n/, 1)[0]!.trim();
  if (secret.length === 0) throw configError(source, 'server.enrollSecretFile', `${path} is empty: its first line must be the enrollment secret`);
  return secret;
}

/** Sets `a.b.c` in a nested override object; used by CLI flags. */
export function setPath(target: Record<string, unknown>, dotted: string, value: unknown): void {
  const keys = dotted.split('.');
  let node = target;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    if (next === undefined || next === null || typeof next !== 'object') node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]!] = value;
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const prev = out[key];
    out[key] =
      value && typeof value === 'object' && !Array.isArray(value) && prev && typeof prev === 'object' && !Array.isArray(prev)
        ? deepMerge(prev as Record<string, unknown>, value as Record<string, unknown>)
        : value;
  }
  return out;
}
