/**
 * The upload's reads of the journal, as SQL over its `records` table (the Journal runs them:
 * Journal.uploadBatch, Journal.backlog).
 */

/** One upload request body and what it covers. */
export interface UploadBatch {
  /** `{"records":[...]}`, UTF-8. */
  body: Buffer;
  lastSeq: number;
  count: number;
}

/**
 * One upload body `{"records":[...]}` for the records after @after (at most @limit), in seq order.
 * Each record is `{"seq":N,"type":...,"time":...` + (`"host":@host` if the stored fields have no
 * top-level host) + the stored fields without their opening brace. A body starting `{"host":`
 * has one (the common case, no JSON parsing); otherwise json_type() looks at the top level only,
 * so a nested "host" key or one inside a string value is not mistaken for it. The integrity
 * columns (base64url, nothing to escape) follow as `chain`, `mac`, `chainThrough`.
 */
export const UPLOAD_BATCH_SQL = `
SELECT CAST('{"records":[' || group_concat(
         '{"seq":' || seq || ',"type":' || json_quote(type) || ',"time":' || json_quote(time)
         || CASE WHEN substr(body, 1, 8) = '{"host":' THEN ''
                 WHEN json_type(body, '$.host') IS NOT NULL THEN ''
                 ELSE ',"host":' || json_quote(@host) END
         || CASE WHEN chain IS NULL THEN '' ELSE ',"chain":"' || chain || '"' END
         || CASE WHEN mac IS NULL THEN '' ELSE ',"mac":"' || mac || '"' END
         || CASE WHEN chain_through IS NULL THEN '' ELSE ',"chainThrough":"' || chain_through || '"' END
         || CASE WHEN length(body) > 2 THEN ',' || substr(body, 2) ELSE '}' END,
         ',' ORDER BY seq) || ']}' AS BLOB) AS body,
       count(*) AS n, max(seq) AS lastSeq
  FROM (SELECT seq, type, time, body, chain, mac, chain_through FROM records WHERE seq > @after ORDER BY seq LIMIT @limit)`;

/** Records not yet acknowledged and roughly their size on the wire (fields, type, time, framing). */
export const BACKLOG_SQL = 'SELECT count(*) AS records, coalesce(sum(length(body) + length(type) + length(time) + 8), 0) AS bytes FROM records WHERE seq > ?';
