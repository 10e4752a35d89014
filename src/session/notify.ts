import { execFile, spawnSync } from 'node:child_process';
import type { Notifier } from '../ipc/client.js';
import type { Notification } from '../ipc/protocol.js';

/** freedesktop notifications through `notify-send` (libnotify-bin): one process per notification. */
export class NotifySendNotifier implements Notifier {
  readonly name = 'notify-send';
  static available(): boolean {
    return (process.env.DBUS_SESSION_BUS_ADDRESS !== undefined || process.env.DISPLAY !== undefined) &&
      spawnSync('sh', ['-c', 'command -v notify-send'], { stdio: 'ignore' }).status === 0;
  }
  show(n: Notification): Promise<void> {
    return new Promise((resolve, reject) => {
      execFile('notify-send', ['--app-name=usage-agent', `--urgency=${n.urgency}`, '--', n.title, n.body], { timeout: 10_000 }, (err) =>
        err ? reject(err) : resolve(),
      );
    });
  }
}
