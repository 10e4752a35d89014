/** `serve` (the default command: run the server until SIGINT/SIGTERM; SIGHUP reloads TLS) and `check-config`. */
import type { Command } from 'commander';
import { pino } from 'pino';
import { createServer } from '../app.js';
import { EX_CONFIG, plainHttpProblem, type ServerConfig } from '../config.js';
import { loadTlsMaterial } from '../tls.js';
import { SERVER_VERSION } from '../version.js';
import { exitOnSignals } from '../../shared/shutdown.js';
import { common, dbName, fail, int, loadConfig, loadTls, type CommonOpts } from './common.js';

export function addServeCommands(program: Command): void {
  common(program.command('serve', { isDefault: true }).description('run the server (default command)'))
    .option('--listen <host>', 'address to listen on (default 127.0.0.1)')
    .option('-p, --port <n>', 'TCP port (0 = any free port)', int('port', 0))
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent')
    .action(async (opts: CommonOpts & { listen?: string; port?: number; logLevel?: string }) => {
      const cfg = loadConfig(opts);
      if (opts.listen) cfg.listen.host = opts.listen;
      if (opts.port !== undefined) cfg.listen.port = opts.port;
      if (opts.logLevel) cfg.log.level = opts.logLevel as ServerConfig['log']['level'];
      const plain = plainHttpProblem(cfg);
      if (plain) fail(`configuration error\n${opts.config ?? '(defaults)'}: listen.host (--listen): ${plain}`, EX_CONFIG);
      const tls = loadTls(cfg, opts);
      const logger = pino({ level: cfg.log.level, base: { name: 'usage-server' }, timestamp: pino.stdTimeFunctions.isoTime });
      let handle: Awaited<ReturnType<typeof createServer>>;
      try {
        handle = await createServer(cfg, logger, { tls });
      } catch (err) {
        fail(`cannot start: ${(err as Error).message}`, 1);
      }
      try {
        await handle.app.listen({ host: cfg.listen.host, port: cfg.listen.port });
      } catch (err) {
        await handle.close().catch(() => undefined);
        fail(`cannot listen on ${cfg.listen.host}:${cfg.listen.port}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 1);
      }
      const addr = handle.app.server.address();
      const port = typeof addr === 'object' && addr ? addr.port : cfg.listen.port;
      const host = cfg.listen.host.includes(':') ? `[${cfg.listen.host}]` : cfg.listen.host;
      const listening = {
        url: `${tls ? 'https' : 'http'}://${host}:${port}`,
        port,
        db: dbName(cfg.db),
        products: cfg.products.length,
        version: SERVER_VERSION,
      };
      // Always said, whatever the log level: with --port 0 it is the only way to learn the port.
      if (logger.isLevelEnabled('info')) logger.info(listening, 'listening');
      else process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), name: 'usage-server', msg: 'listening', ...listening })}\n`);
      if (cfg.enrollment.secrets.length === 0 && !process.env.USAGE_SERVER_ENROLL_SECRETS)
        logger.warn('no enrollment secrets configured: agents cannot enroll');
      if (tls)
        logger.info(
          {
            certificate: tls.fingerprint256,
            key: tls.keyType,
            validTo: tls.validTo,
            clientCerts: cfg.tls?.clientCaFile ? (cfg.tls.requireClientCert ? 'required' : 'optional') : 'off',
          },
          'serving TLS',
        );

      // SIGHUP: read the certificate and key again (renewed by certbot, the PKI, ...). A bad file
      // keeps the certificate in use: the server never stops serving over a failed renewal.
      process.on('SIGHUP', () => {
        if (!tls || !cfg.tls) {
          logger.info('SIGHUP: no TLS configured, nothing to reload');
          return;
        }
        try {
          const next = loadTlsMaterial(cfg.tls, opts.config);
          handle.reloadTls(next);
          logger.info({ certificate: next.fingerprint256, key: next.keyType, validTo: next.validTo }, 'SIGHUP: TLS certificate and key reloaded');
        } catch (err) {
          logger.error({ error: (err as Error).message }, 'SIGHUP: TLS certificate or key not reloaded; the one in use stays');
        }
      });

      const stop = (signal: string) => {
        logger.info({ signal }, 'shutting down');
        return handle.close();
      };
      exitOnSignals(stop, {
        logger,
        failed: 'error while shutting down',
        crash: { then: '' },
        forceExitAfterMs: 10_000,
        onStopped: () => {
          logger.info('stopped');
          logger.flush();
        },
      });
    });

  common(program.command('check-config').description('validate the config file and exit (78 on error)')).action((opts: CommonOpts) => {
    const cfg = loadConfig(opts);
    loadTls(cfg, opts);
    process.stdout.write(`ok: ${cfg.products.length} product(s), db ${dbName(cfg.db)}, listen ${cfg.listen.host}:${cfg.listen.port}\n`);
  });
}
