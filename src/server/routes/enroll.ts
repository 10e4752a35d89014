/** POST /v1/enroll: a shared enrollment secret buys an agent id and token (rate-limited per client address). */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { EventCode } from '../../protocol/event-codes.js';
import { RECORD_KEY_BYTES } from '../../protocol/integrity.js';
import type { EnrollRequest, EnrollResponse } from '../../protocol/v1.js';
import { enrollmentSecrets } from '../config.js';
import type { RouteOptions } from '../context.js';
import { newId } from '../leases/seats.js';
import { sha256 } from '../plugins/auth.js';
import { problem, sendProblem } from '../problem.js';
import { TokenBuckets } from '../ratelimit.js';
import { verifiedClientCertSha256 } from '../tls.js';

export default async function enrollRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const { cfg, store, metrics } = ctx;
  const secrets = enrollmentSecrets(cfg).map(sha256);
  // The certificate an agent enrolls with is the one its token is good with (tls.ts).
  const clientCerts = cfg.tls?.clientCaFile !== undefined;
  // Per client address, before the body is read: a secret-guessing loop or a runaway re-enroll loop gets 429.
  const rl = cfg.enrollment.rateLimit;
  const buckets = rl.enabled ? new TokenBuckets({ burst: rl.burst, perMinute: rl.perMinute }) : null;
  const rateLimit = async (req: FastifyRequest, reply: FastifyReply) => {
    const r = buckets?.take(req.ip, Date.now());
    if (!r || r.ok) return;
    metrics.inc('usage_server_enrollments_total', { outcome: 'rate-limited' });
    return sendProblem(
      reply,
      problem(429, 'rate-limited', `Too many enrollments from ${req.ip}; retry in ${r.retryAfterSeconds} s.`, { retryAfterSeconds: r.retryAfterSeconds }),
      {
        'Retry-After': String(r.retryAfterSeconds),
      },
    );
  };

  app.post<{ Body: EnrollRequest }>(
    '/v1/enroll',
    { schema: { body: { $ref: 'EnrollRequest#' } }, config: { auth: 'none' }, onRequest: rateLimit },
    async (req, reply) => {
      const given = sha256(req.body.enrollSecret);
      let ok = false;
      for (const s of secrets) ok = timingSafeEqual(s, given) || ok;
      if (!ok) {
        metrics.inc('usage_server_enrollments_total', { outcome: 'refused' });
        await store.transaction(async (tx) => {
          await tx.writeServerEvent({ time: Date.now(), code: EventCode.block, host: req.body.host, reason: 'enroll-secret' });
        });
        return sendProblem(
          reply,
          problem(
            403,
            'enroll-secret-invalid',
            secrets.length === 0 ? 'Enrollment is disabled: no enrollment secrets are configured.' : 'The enrollment secret was not accepted.',
            { field: '/enrollSecret' },
          ),
        );
      }
      const agentId = newId('ag').slice(0, 25);
      const agentToken = 'uat_' + randomBytes(32).toString('base64url');
      const now = new Date();
      const acked = (req.body.nextSeq ?? 1) - 1;
      // A new key for every identity: records MACed with an earlier one no longer verify.
      const recordKey = randomBytes(RECORD_KEY_BYTES).toString('base64url');
      await store.transaction(async (tx) => {
        await tx.insertAgent({
          id: agentId,
          host: req.body.host,
          token_hash: sha256(agentToken).toString('hex'),
          agent_version: req.body.agentVersion ?? null,
          os: req.body.os ?? null,
          enrolled_at: now.toISOString(),
          last_seen_at: now.toISOString(),
          acked_seq: acked,
          record_key: recordKey,
          chain_head: req.body.chainHead ?? null,
          client_cert_sha256: clientCerts ? verifiedClientCertSha256(req.raw.socket) : null,
        });
        await tx.writeServerEvent({ time: now.getTime(), code: EventCode.issued, agentId, host: req.body.host, reason: 'enrolled' });
      });
      metrics.inc('usage_server_enrollments_total', { outcome: 'enrolled' });
      req.log.info({ agentId, host: req.body.host }, 'agent enrolled');
      const body: EnrollResponse = { agentId, agentToken, ackedThroughSeq: acked, recordKey };
      return reply.code(201).send(body);
    },
  );
}
