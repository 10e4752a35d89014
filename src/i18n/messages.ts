/**
 * The user-facing notifications as message keys with parameters (./types.ts), and their texts in
 * English, Japanese, German, French and Spanish (./catalogues/, one file a language). Pure. The
 * enforcer (daemon) builds a Message and renders it in English for its journal and for session
 * agents that predate messages; the session agent
 * renders the same Message in the session's own language and time zone. Journaled notifications
 * keep key and parameters, so a server can show them in any language.
 *
 * Parameters are plain JSON values; times are epoch milliseconds (`*At`), durations seconds.
 * An administrator's `denyMessage` is shown as written, in every language.
 */
import { de } from './catalogues/de.js';
import { en } from './catalogues/en.js';
import { es } from './catalogues/es.js';
import { fr } from './catalogues/fr.js';
import { ja } from './catalogues/ja.js';
import { type Catalogue, type Format, type Language, LANGUAGES, type Message, type Texts } from './types.js';

export { LANGUAGES } from './types.js';
export type { Consequence, DenyWhat, Format, IdleThen, Language, Message, MessageKey, MessageParams } from './types.js';

const CATALOGUES: Record<Language, Catalogue> = { en, ja, de, fr, es };
const INTL_LOCALE: Record<Language, string> = { en: 'en-GB', ja: 'ja-JP', de: 'de-DE', fr: 'fr-FR', es: 'es-ES' };

/**
 * The language of a POSIX locale environment: LC_ALL, then LC_MESSAGES, then LANG (as gettext
 * looks them up); `ja_JP.UTF-8` -> ja. English when unset, `C`/`POSIX`, or not one we have.
 */
export function languageFromEnv(env: NodeJS.ProcessEnv): Language {
  const raw = env.LC_ALL || env.LC_MESSAGES || env.LANG || '';
  const lang = raw.split(/[_.@-]/)[0]!.toLowerCase();
  return (LANGUAGES as readonly string[]).includes(lang) ? (lang as Language) : 'en';
}

/** Formatters for a language and IANA time zone (undefined: the process's own zone). */
export function formatFor(language: Language, timeZone?: string): Format {
  const clock = new Intl.DateTimeFormat(INTL_LOCALE[language], {
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
    timeZone,
    timeZoneName: 'short',
  });
  const unit = (u: 'second' | 'minute') => new Intl.NumberFormat(INTL_LOCALE[language], { style: 'unit', unit: u, unitDisplay: 'short' });
  const sec = unit('second');
  const min = unit('minute');
  return {
    time: (ms) => clock.format(ms),
    duration:
      language === 'en'
        ? (s) => (s < 120 ? `${Math.round(s)} s` : `${Math.round(s / 60)} min`)
        : (s) => (s < 120 ? sec.format(Math.round(s)) : min.format(Math.round(s / 60))),
  };
}

/** The English texts the daemon journals and sends along (times in UTC, as before messages). */
const ENGLISH_UTC = formatFor('en', 'UTC');

/** Title and body of a message in a language (English in UTC when no language is given). */
export function render(m: Message, language: Language = 'en', format: Format = language === 'en' ? ENGLISH_UTC : formatFor(language)): Texts {
  const fn = CATALOGUES[language][m.key] as (p: unknown, f: Format) => Texts;
  return fn(m.params, format);
}

/** Whether a value received from elsewhere (the session channel) is a message this code knows. */
export function isMessage(v: unknown): v is Message {
  if (typeof v !== 'object' || v === null) return false;
  const m = v as { key?: unknown; params?: unknown };
  return (
    typeof m.key === 'string' &&
    Object.hasOwn(en, m.key) &&
    typeof m.params === 'object' &&
    m.params !== null &&
    typeof (m.params as { product?: unknown }).product === 'string'
  );
}
