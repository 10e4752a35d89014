/**
 * How the TypeScript types of protocol v1 are derived from its JSON schemas (json-schema-to-ts's
 * FromSchema, at compile time only), and the schema fragments the record families share.
 */
import type { FromSchema, JSONSchema } from 'json-schema-to-ts';
import type { LeaseGrantedSchema } from './leases.js';
import type { ProblemSchema } from './api.js';
import type { ProductPolicySchema } from './policy.js';
import type { UploadRecordSchema } from './records.js';

/**
 * FromSchema gives objects without `additionalProperties: false` an index signature
 * (`[x: string]: unknown`); dropping it (deeply) keeps the compiler's check of unknown fields in
 * object literals. Schemas that allow more (Problem, UploadRecord) are taken as they are.
 */
type Closed<T> = T extends readonly (infer U)[]
  ? Closed<U>[]
  : T extends object
    ? { [K in keyof T as string extends K ? never : number extends K ? never : K]: Closed<T[K]> }
    : T;
/** The TypeScript type of a named schema (references resolve to the named schemas below). */
export type Wire<S extends JSONSchema> = Closed<FromSchema<S, { references: References }>>;
/** `Omit` that keeps an index signature's neighbours (Omit over `[x: string]` keeps only the index). */
export type Without<T, K extends PropertyKey> = { [P in keyof T as P extends K ? never : P]: T[P] };
/**
 * T with some of its fields narrowed (or made present) by N. Each key of N must be a field of T
 * and its type one T's field accepts, so a field renamed in the schema fails here too.
 */
export type Narrow<T, N extends { [K in keyof N]: K extends keyof T ? T[K] : never }> = Without<T, keyof N> & N;
/** Every field present (null where the table allows it, which is every typed field). */
export type Present<T> = { [K in keyof T]-?: Exclude<T[K], undefined> };

/** The schemas others refer to by `$ref: 'Name#'`. */
export type References = [typeof ProblemSchema, typeof ProductPolicySchema, typeof LeaseGrantedSchema, typeof UploadRecordSchema];

export const isoTime = { type: 'string', format: 'date-time', maxLength: 64 } as const;
/** A short text; no U+0000 (PostgreSQL text cannot hold it: a 400 naming the field, not a failed insert). */
export const shortText = (max: number) => ({ type: 'string', minLength: 1, maxLength: max, pattern: '^[^\\u0000]*$' }) as const;
