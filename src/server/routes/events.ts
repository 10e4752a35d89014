/**
 * Uploads: POST /v1/events stores a batch of journal records (exactly once per agent and seq) and
 * acknowledges them only once they are on disk; GET /v1/events/ack says where to resume.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { EventsAckResponse, EventsUploadResponse, SeqGapProblem } from '../../protocol/v1.js';
import type { RouteOptions } from '../context.js';
import { checkUpload, ingest } from '../ingest.js';
import { WORKER_MIN_BODY_BYTES, type PreVerified } from '../integrity-verifier.js';
import { problem, sendProblem } from '../problem.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The integrity worker's verdicts on this upload, when it took the body (see preParsing). */
    preVerified?: Promise<PreVerified | undefined>;
    /** The body as received, when a chaining agent's batch is checked in line (see preParsing). */
    sentBytes?: Buffer;
  }
}

export default async function eventRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const { cfg, store, metrics, verifier } = ctx;

  // A chaining agent's large batch goes to the integrity worker as its bytes arrive, before the
  // JSON parse, to be checked while this thread parses, checks and stores (integrity-verifier.ts).
  // Its chain head is read fresh before the body (the authenticated row may come from the token
  // cache); ingest uses the verdicts only if that head is still the agent's under the row lock.
  // Any other batch of a chaining agent keeps its bytes: ingest checks them as sent, in line.
  const preParsing = async (req: FastifyRequest): Promise<void> => {
    const agent = req.agent;
    // An agent that enrolled without a chain head never has one (re-enrolling makes a new row).
    if (!agent?.record_key || !agent.chain_head) return;
    // (No read for a body announced as too small for the worker.)
    const large = !verifier.failed && !(Number(req.headers['content-length']) < WORKER_MIN_BODY_BYTES);
    const head = large ? (await store.q.agentById(agent.id))?.chain_head : undefined;
    req.beforeJsonParse = (_text, bytes) => {
      if (head && verifier.takes(bytes)) req.preVerified = verifier.verify(agent.record_key!, head, bytes);
      else req.sentBytes = bytes;
    };
  };

  // The body is checked by checkUpload (upload-check.ts), not by fastify's ajv: the same schema
  // (EventsUploadRequest), tested against ajv, in one pass with the typed fields and cheaper dates.
  app.post('/v1/events', { config: { auth: 'agent' }, preParsing }, async (req, reply) => {
    const agent = req.agent!;
    const preVerified = req.preVerified;
    const checked = checkUpload(req.body, cfg.limits.maxRecordsPerBatch);
    if (!checked.ok) {
      const errors = checked.errors;
      return sendProblem(reply, problem(400, 'validation-failed', `${errors[0].field} ${errors[0].message}`, { field: errors[0].field, errors }));
    }
    const r = await ingest(store, metrics, agent.id, checked.upload, { preVerified, sent: req.sentBytes });
    // Nothing reads the parsed batch after ingest: dropped, so the request object (which lives on
    // until the answer is written) does not keep 500 records alive. On a chaining agent's uploads it
    // did so long that most were promoted to the old generation: heap sampling found 243 of 313 MB of
    // parsed records promoted (2 MB for agents that do not chain), scavenges took 3.2 ms instead of
    // 1.2, and the main thread 0.4 us more a record. (Why only with the integrity hooks set on the
    // request was not pinned down; clearing the body alone ends it.)
    (req as { body: unknown }).body = undefined;
    // Answer only once the commit is on disk: the agent forgets what is acknowledged.
    try {
      await store.durable();
    } catch (err) {
      req.log.error({ err }, 'could not flush the database to disk');
      return sendProblem(reply, problem(503, 'unavailable', 'The records could not be confirmed on disk; send the batch again.'), { 'Retry-After': '5' });
    }
    if (!r.ok) {
      return sendProblem(
        reply,
        problem(
          409,
          'seq-gap',
          `Expected seq ${r.expectedSeq} but the batch continues with ${r.receivedSeq}; records through ${r.ackedThroughSeq} are stored. Resend from ${r.expectedSeq}.`,
          {
            field: '/records',
            action: 'resend-from',
            expectedSeq: r.expectedSeq,
            receivedSeq: r.receivedSeq,
            ackedThroughSeq: r.ackedThroughSeq,
            stored: r.stored,
            duplicates: r.duplicates,
          } satisfies Pick<SeqGapProblem, 'field' | 'action' | 'expectedSeq' | 'receivedSeq' | 'ackedThroughSeq'> & { stored: number; duplicates: number },
        ),
      );
    }
    return { ackedThroughSeq: r.ackedThroughSeq, stored: r.stored, duplicates: r.duplicates } satisfies EventsUploadResponse;
  });

  app.get('/v1/events/ack', { config: { auth: 'agent' } }, async (req) => {
    const ackedThroughSeq = (await store.q.agentById(req.agent!.id))!.acked_seq;
    await store.durable();
    return { ackedThroughSeq } satisfies EventsAckResponse;
  });
}
