import { execFile, spawnSync } from 'node:child_process';
import type { Notifier } from '../ipc/client.js';
import type { Notification } from '../ipc/protocol.js';
import { formatFor, languageFromEnv, render, type Language } from '../i18n/messages.js';

/**
 * Shows notifications in the session's language: a notification that carries a message (key +
 * parameters) is rendered from the catalogue for LC_ALL / LC_MESSAGES / LANG, with times in the
 * session's time zone (TZ, else the system's); otherwise its English texts are shown as sent.
 */
export class LocalizedNotifier implements Notifier {
  readonly language: Language;
  constructor(
    private readonly inner: Notifier,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.language = languageFromEnv(env);
  }
  get name(): string {
    return `${this.inner.name} (${this.language})`;
  }
  show(n: Notification): Promise<void> {
    if (!n.message) return this.inner.show(n);
    const { title, body } = render(n.message, this.language, formatFor(this.language));
    return this.inner.show({ ...n, title, body });
  }
}

/** freedesktop notifications through `notify-send` (libnotify-bin): one process per notification. */
export class NotifySendNotifier implements Notifier {
  readonly name = 'notify-send';
  static available(): boolean {
    return (
      (process.env.DBUS_SESSION_BUS_ADDRESS !== undefined || process.env.DISPLAY !== undefined) &&
      spawnSync('sh', ['-c', 'command -v notify-send'], { stdio: 'ignore' }).status === 0
    );
  }
  show(n: Notification): Promise<void> {
    return new Promise((resolve, reject) => {
      execFile('notify-send', ['--app-name=usage-agent', `--urgency=${n.urgency}`, '--', n.title, n.body], { timeout: 10_000 }, (err) =>
        err ? reject(err) : resolve(),
      );
    });
  }
}
