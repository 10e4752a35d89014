import { z } from 'zod';

/**
 * The agent's configuration file, one JSON document. Every section is optional and every key has
 * a default, so the agent runs with no file at all. Objects are strict: an unknown key is an
 * error (a misspelt key silently ignored is a policy silently not applied).
 */

const logSchema = z
  .strictObject({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .prefault({});

const journalSchema = z
  .strictObject({
    /** Group commit: buffered records are written in one transaction at least this often. */
    flushIntervalMs: z.number().int().min(10).max(1000).default(1000),
    /** Upper bound of the journal file; see README "Bounded journal" for what gives way first. */
    maxBytes: z
      .number()
      .int()
      .min(1024 * 1024)
      .default(1024 * 1024 * 1024),
  })
  .prefault({});

const processesSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    /** `auto` picks /proc on Linux and the portable ps-list/pidusage sampler elsewhere. */
    sampler: z.enum(['auto', 'procfs', 'portable']).default('auto'),
    sampleIntervalMs: z.number().int().min(100).max(3_600_000).default(5000),
    /** Kernel process accounting: `auto` (use or switch on), `off`, or a pacct file path to read. */
    pacct: z.union([z.literal('auto'), z.literal('off'), z.string().startsWith('/')]).default('auto'),
    /** Largest pacct file the agent lets grow before rotating the file it owns. */
    pacctRotateBytes: z.number().int().min(64 * 1024).default(64 * 1024 * 1024),
    /** Command-line arguments can hold secrets; they are recorded only when switched on. */
    recordCommandLine: z.boolean().default(false),
  })
  .prefault({});

const activitySchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    breakSeconds: z.number().positive().default(5),
    microBreakMaxSeconds: z.number().positive().default(60),
    shortBreakMaxSeconds: z.number().positive().default(600),
    inputEventIntervalSeconds: z.number().positive().default(60),
  })
  .prefault({});

const sessionSchema = z
  .strictObject({
    /** Unix socket the daemon listens on for session agents; default: <dataDir>/agent.sock. */
    socketPath: z.string().min(1).optional(),
  })
  .prefault({});

const serverSchema = z
  .strictObject({
    /** Base URL of the usage-server, e.g. https://usage.example.com. Unset: collect locally only. */
    url: z.url().optional(),
    enrollSecret: z.string().min(1).optional(),
    caFile: z.string().min(1).optional(),
    proxy: z.url().optional(),
    // 2000 x ~330 B = ~0.7 MB bodies: per-request costs amortised (bench replay), RSS kept low.
    uploadBatchSize: z.number().int().min(1).max(5000).default(2000),
    uploadIntervalMs: z.number().int().min(100).default(5000),
    requestTimeoutMs: z.number().int().min(100).default(10_000),
    maxBackoffMs: z.number().int().min(100).default(300_000),
  })
  .prefault({});

const leasesSchema = z
  .strictObject({
    /**
     * How often the launch watcher checks for new processes: one read of /proc/loadavg, and a
     * listing of /proc only when a task was created or reaped.
     */
    launchPollMs: z.number().int().min(10).default(100),
    /**
     * Product ids to gate on this agent as if their policy said `gate: true` (stopped at launch
     * until the lease decision): for servers that do not send the field yet.
     */
    gateProducts: z.array(z.string().min(1).max(128)).default([]),
    /** Delay between the terminate warning and SIGTERM, then SIGTERM and SIGKILL. */
    terminateWarningSeconds: z.number().min(0).default(60),
    killAfterSeconds: z.number().min(0).default(10),
    /** Retry interval of lease requests, renewals and queue polls while the server is unreachable. */
    retrySeconds: z.number().positive().default(15),
    /** Queue long-poll length (the server caps it at its queue.maxWaitSeconds). */
    queueWaitSeconds: z.number().min(0).default(25),
    /** Programs that are only logged (events 8/9, 12/13 offline): no lease, no enforcement. */
    loggedPrograms: z
      .array(
        z.strictObject({
          id: z.string().min(1).max(128),
          name: z.string().min(1).optional(),
          executables: z.array(z.string().min(1)).default([]),
          paths: z.array(z.string().min(1)).default([]),
        }),
      )
      .default([]),
  })
  .prefault({});

export const configSchema = z.strictObject({
  /** Where the journal and state live; see README for the default. */
  dataDir: z.string().min(1).optional(),
  log: logSchema,
  journal: journalSchema,
  processes: processesSchema,
  activity: activitySchema,
  session: sessionSchema,
  server: serverSchema,
  leases: leasesSchema,
});

export type AgentConfig = z.infer<typeof configSchema>;
export type AgentConfigInput = z.input<typeof configSchema>;
