/**
 * The one template renderer used by `usage-agent service install` and by the packagers, so the
 * definitions that are tested are the ones that ship. Templates live in service/ and contain
 * `@NAME@` placeholders; each value is escaped for the syntax of the file it lands in.
 */

export type TemplateFormat = 'systemd' | 'desktop' | 'xml' | 'json' | 'sh' | 'text';

export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateError';
  }
}

const PLACEHOLDER = /@([A-Z][A-Z0-9_]*)@/g;
/** Characters that need no quoting in a unit file word, a desktop Exec argument or a shell word. */
const SAFE_WORD = /^[A-Za-z0-9/._+:=,@-]+$/;

/**
 * systemd: a value used as one word of ExecStart= or a path list. `%` starts a specifier, so it is
 * doubled; whitespace, quotes and backslashes need C-style double quoting.
 */
export function escapeSystemd(value: string): string {
  const v = value.replaceAll('%', '%%');
  if (SAFE_WORD.test(v.replaceAll('%', ''))) return v;
  return `"${v.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

/**
 * Desktop Entry Exec= argument (Desktop Entry Specification, "The Exec key"): reserved characters
 * need double quotes, inside which `"`, `` ` ``, `$` and `\` are backslash-escaped; then the string
 * type's own escaping doubles every backslash. A literal `%` is written `%%`.
 */
export function escapeDesktopArg(value: string): string {
  const v = value.replaceAll('%', '%%');
  if (SAFE_WORD.test(v.replaceAll('%', ''))) return v;
  const quoted = `"${v.replace(/["`$\\]/g, (c) => `\\${c}`)}"`;
  return quoted.replaceAll('\\', '\\\\');
}

export function escapeXml(value: string): string {
  return value.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;').replaceAll("'", '&apos;');
}

/** Inside a JSON string literal (the template supplies the surrounding quotes). */
export function escapeJsonString(value: string): string {
  return JSON.stringify(value).slice(1, -1);
}

export function escapeShell(value: string): string {
  if (SAFE_WORD.test(value)) return value;
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

export function escapeFor(format: TemplateFormat, value: string): string {
  switch (format) {
    case 'systemd':
      return escapeSystemd(value);
    case 'desktop':
      return escapeDesktopArg(value);
    case 'xml':
      return escapeXml(value);
    case 'json':
      return escapeJsonString(value);
    case 'sh':
      return escapeShell(value);
    case 'text':
      return value;
  }
}

/**
 * A placeholder's value: one string, or a list of words (command-line arguments such as
 * AGENT_NODE_FLAGS). A list becomes several words, each escaped on its own: space-separated in a
 * systemd, shell or desktop command line and in WinSW's <arguments>; in XML, a line that holds only
 * `<tag>@NAME@</tag>` (a launchd ProgramArguments entry) is repeated once per word, and dropped
 * for an empty list.
 */
export type TemplateValue = string | readonly string[];

const LIST_ELEMENT_LINE = /^([ \t]*)<([A-Za-z][\w.-]*)>@([A-Z][A-Z0-9_]*)@<\/\2>[ \t]*\r?\n/gm;

function renderList(format: TemplateFormat, name: string, words: readonly string[]): string {
  if (format === 'json') throw new TemplateError(`@${name}@ is a list and cannot be rendered into JSON`);
  return words.map((w) => escapeFor(format, w)).join(' ');
}

/** The placeholders a template uses, in order of first appearance. */
export function placeholdersOf(template: string): string[] {
  return [...new Set([...template.matchAll(PLACEHOLDER)].map((m) => m[1]!))];
}

/**
 * Replaces every `@NAME@`. An unknown placeholder is an error, not an empty string: a unit with
 * `ExecStart= run` would install fine and fail at boot on 5,000 machines.
 */
export function renderTemplate(template: string, vars: Readonly<Record<string, TemplateValue>>, format: TemplateFormat): string {
  const missing = placeholdersOf(template).filter((name) => !(name in vars));
  if (missing.length > 0) throw new TemplateError(`template uses undefined placeholder(s): ${missing.map((n) => `@${n}@`).join(', ')}`);
  for (const [name, value] of Object.entries(vars)) {
    for (const v of typeof value === 'string' ? [value] : value) {
      if (/[\n\r\0]/.test(v)) throw new TemplateError(`value of @${name}@ contains a line break or NUL`);
    }
  }
  let text = template;
  if (format === 'xml') {
    text = text.replace(LIST_ELEMENT_LINE, (line, indent: string, tag: string, name: string) => {
      const value = vars[name]!;
      if (typeof value === 'string') return line;
      const eol = line.endsWith('\r\n') ? '\r\n' : '\n';
      return value.map((w) => `${indent}<${tag}>${escapeXml(w)}</${tag}>${eol}`).join('');
    });
  }
  return text.replace(PLACEHOLDER, (_, name: string) => {
    const value = vars[name]!;
    return typeof value === 'string' ? escapeFor(format, value) : renderList(format, name, value);
  });
}
