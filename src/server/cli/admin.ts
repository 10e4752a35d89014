/** Admin commands on the store: products, agents, integrity flags, leases and allocations. */
import type { Command } from 'commander';
import { LICENSE_TYPES, type LicenseType } from '../../protocol/event-codes.js';
import { ProductConfigSchema } from '../config.js';
import { type AdminRevokeResult, revokeAgent, revokeAllocation, revokeLease, setSeats, upsertProducts } from '../leases/admin.js';
import type { ProductRow } from '../storage/types.js';
import { iso, printList, common, fail, int, positive, table, withStore, type CommonOpts } from './common.js';

/** What revoking a lease or an allocation did (exit 1 when there is no such thing). */
function sayRevoked(r: AdminRevokeResult, what: string, already: string): void {
  if (r === 'not-found') fail(`no ${what}`, 1);
  process.stdout.write(r === 'already' ? `${what} ${already}\n` : `${what} revoked (its seat goes to the queue within one sweep interval)\n`);
}

export function addAdminCommands(program: Command): void {
  // ---- products ------------------------------------------------------------------------------
  const products = program.command('products').description('list and manage licensed products');

  const productView = (r: ProductRow) => {
    const spec = JSON.parse(r.spec) as { match?: { executables?: string[] } };
    return {
      id: r.id,
      name: r.name,
      type: r.license_type,
      seats: r.seats ?? 'unlimited',
      executables: (spec.match?.executables ?? []).join(','),
      source: r.source,
    };
  };

  common(products.command('list').description('list products'))
    .option('--json', 'JSON output')
    .action((opts: CommonOpts & { json?: boolean }) =>
      withStore(opts, async (store) => {
        const rows = await store.q.products();
        process.stdout.write(
          opts.json
            ? JSON.stringify(
                rows.map((r) => ({ ...JSON.parse(r.spec), seats: r.seats, source: r.source })),
                null,
                2,
              ) + '\n'
            : table(rows.map(productView)),
        );
      }),
    );

  common(products.command('add').description('add or replace a product').argument('<id>', 'product id'))
    .option('--name <name>', 'display name')
    .option('--type <type>', `license type: ${LICENSE_TYPES.join('|')}`, 'floating')
    .option('--seats <n>', 'concurrent seats (omit for an unlimited site license)', int('seats', 0))
    .option('--exe <names...>', 'executable names that identify the product')
    .option('--path <globs...>', 'executable path globs that identify the product')
    .option('--ttl <seconds>', 'lease TTL (default from the server config)', positive('ttl'))
    .option('--no-queue', 'deny instead of offering the waiting queue')
    .option('--gate', 'agents hold a launch stopped until the lease decision')
    .action(
      (
        id: string,
        opts: CommonOpts & { name?: string; type: string; seats?: number; exe?: string[]; path?: string[]; ttl?: number; queue: boolean; gate?: boolean },
      ) =>
        withStore(opts, async (store, cfg) => {
          const parsed = ProductConfigSchema.safeParse({
            id,
            name: opts.name,
            licenseType: opts.type as LicenseType,
            seats: opts.seats,
            leaseTtlSeconds: opts.ttl,
            queue: opts.queue,
            ...(opts.gate ? { gate: true } : {}),
            match: { executables: opts.exe ?? [], paths: opts.path ?? [] },
          });
          if (!parsed.success) fail(parsed.error.issues.map((i) => `${i.path.join('.') || 'product'}: ${i.message}`).join('\n'), 2);
          if (parsed.data.licenseType !== 'site' && parsed.data.seats === undefined) fail(`--seats is required for a ${parsed.data.licenseType} license`, 2);
          if (cfg.products.some((p) => p.id === id))
            process.stderr.write(`warning: product ${id} is declared in ${opts.config}; the config file replaces this change at the next start\n`);
          await upsertProducts(store, [parsed.data], 'admin');
          process.stdout.write(`product ${id} saved\n`);
        }),
    );

  common(
    products
      .command('set-seats')
      .description('change the seat count of a product')
      .argument('<id>', 'product id')
      .argument('<seats>', 'seat count', int('seats', 0)),
  ).action((id: string, seats: number, opts: CommonOpts) =>
    withStore(opts, async (store, cfg) => {
      if (!(await setSeats(store, id, seats))) fail(`no product ${id}`, 1);
      if (cfg.products.some((p) => p.id === id))
        process.stderr.write(`warning: product ${id} is declared in ${opts.config}; edit the file to keep ${seats} seats after the next start\n`);
      process.stdout.write(`product ${id}: ${seats} seats (queued users are granted freed seats within one sweep interval)\n`);
    }),
  );

  // ---- agents --------------------------------------------------------------------------------
  const agents = program.command('agents').description('list and revoke enrolled agents');

  common(agents.command('list').description('list enrolled agents'))
    .option('--json', 'JSON output')
    .action((opts: CommonOpts & { json?: boolean }) =>
      withStore(opts, async (store) => {
        const rows = (await store.q.agents()).map(({ token_hash: _secret, record_key: _key, ...r }) => r);
        const live = await store.q.liveLeaseCountsByAgent();
        const view = rows.map((r) => ({ ...r, leases: live.find((l) => l.agent_id === r.id)?.n ?? 0 }));
        printList(opts.json, view, (r) => ({
          id: r.id,
          host: r.host,
          version: r.agent_version ?? '',
          enrolled: r.enrolled_at,
          lastSeen: r.last_seen_at ?? '',
          revoked: r.revoked_at ?? '',
          ackedSeq: r.acked_seq,
          leases: r.leases,
        }));
      }),
    );

  common(agents.command('revoke').description("revoke an agent's token, ending its leases and queue places").argument('<agentId>', 'agent id')).action(
    (agentId: string, opts: CommonOpts) =>
      withStore(opts, async (store) => {
        const a = await store.q.agentById(agentId);
        if (!a) fail(`no agent ${agentId}`, 1);
        const r = await revokeAgent(store, agentId);
        process.stdout.write(r === 'already' ? `agent ${agentId} was already revoked\n` : `agent ${agentId} (${a.host}) revoked\n`);
      }),
  );

  // ---- integrity -----------------------------------------------------------------------------
  common(program.command('integrity').description('integrity flags of uploaded records, per agent and kind (edited, forged, unauthenticated, gap)'))
    .option('--json', 'JSON output')
    .action((opts: CommonOpts & { json?: boolean }) =>
      withStore(opts, async (store) => {
        const rows = await store.q.integritySummary();
        printList(opts.json, rows, (r) => ({
          agent: r.agent_id,
          host: r.host ?? '',
          kind: r.kind,
          records: r.records,
          seqs: `${r.from_seq}-${r.to_seq}`,
          flags: r.flags,
          firstTime: r.first_time ?? '',
          lastTime: r.last_time ?? '',
          lastDetected: r.last_detected_at,
        }));
      }),
    );

  // ---- leases and allocations ----------------------------------------------------------------

  const leasesCmd = program.command('leases').description('list and revoke live leases');

  common(leasesCmd.command('list').description('list live leases'))
    .option('--product <id>', 'only this product')
    .option('--agent <agentId>', 'only this agent')
    .option('--json', 'JSON output')
    .action((opts: CommonOpts & { product?: string; agent?: string; json?: boolean }) =>
      withStore(opts, async (store) => {
        const rows = (await store.q.liveLeases()).filter((l) => (!opts.product || l.product_id === opts.product) && (!opts.agent || l.agent_id === opts.agent));
        const view = rows.map((l) => ({
          id: l.id,
          product: l.product_id,
          agentId: l.agent_id,
          host: l.host,
          user: l.user,
          pid: l.pid,
          processStart: l.process_start,
          grantedAt: iso(l.granted_at),
          expiresAt: iso(l.expires_at),
          renewedAt: iso(l.renewed_at),
        }));
        printList(opts.json, view, (v) => ({
          id: v.id,
          product: v.product,
          host: v.host,
          user: v.user,
          pid: v.pid,
          granted: v.grantedAt,
          expires: v.expiresAt,
        }));
      }),
    );

  common(
    leasesCmd
      .command('revoke')
      .description('end one live lease now (reason "revoked"); the agent is told at its next renewal')
      .argument('<leaseId>', 'lease id'),
  ).action((leaseId: string, opts: CommonOpts) =>
    withStore(opts, async (store) => {
      sayRevoked(await revokeLease(store, leaseId), `lease ${leaseId}`, 'had already ended');
    }),
  );

  const allocationsCmd = program.command('allocations').description('list and revoke the allocations of leased and node-locked products');

  common(allocationsCmd.command('list').description('list live allocations (a node-locked license per workstation, a leased license per user and workstation)'))
    .option('--product <id>', 'only this product')
    .option('--json', 'JSON output')
    .action((opts: CommonOpts & { product?: string; json?: boolean }) =>
      withStore(opts, async (store) => {
        const rows = (await store.q.liveAllocations()).filter((a) => !opts.product || a.product_id === opts.product);
        const view = rows.map((a) => ({
          id: a.id,
          product: a.product_id,
          agentId: a.agent_id,
          host: a.host,
          user: a.user,
          issuedAt: iso(a.issued_at),
          lastUsedAt: iso(a.last_used_at),
        }));
        printList(opts.json, view, (v) => ({ id: v.id, product: v.product, host: v.host, user: v.user, issued: v.issuedAt, lastUsed: v.lastUsedAt }));
      }),
    );

  common(
    allocationsCmd
      .command('revoke')
      .description('take back one allocation: its live leases end and its seat is freed')
      .argument('<id>', 'allocation id (from allocations list)', int('id', 1)),
  ).action((id: number, opts: CommonOpts) =>
    withStore(opts, async (store) => {
      sayRevoked(await revokeAllocation(store, id), `allocation ${id}`, 'was already revoked');
    }),
  );
}
