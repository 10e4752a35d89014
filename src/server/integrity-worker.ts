/**
 * The worker thread of integrity-verifier.ts: judges each upload body it is sent with
 * integrity-as-sent.ts verifyBody and answers with the verdicts (none: ingest checks in line).
 */
import { parentPort } from 'node:worker_threads';
import { verifyBody, type VerifyReply, type VerifyRequest } from './integrity-as-sent.js';

export type { VerifyReply, VerifyRequest } from './integrity-as-sent.js';

parentPort?.on('message', (req: VerifyRequest) => {
  let result: VerifyReply['result'];
  try {
    result = verifyBody(req);
  } catch {
    result = undefined;
  }
  parentPort!.postMessage({ id: req.id, result } satisfies VerifyReply);
});
