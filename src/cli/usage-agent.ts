#!/usr/bin/env node
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../config/paths.js';

// `usage-agent session` stays resident in every user session: it loads only its own command, not
// the daemon's components (tens of MB of RSS; see src/session/README.md "Footprint").
const COMMANDS: Array<(program: Command) => void> =
  process.argv[2] === 'session' ? [(await import('./commands/session.js')).registerSession] : (await import('./commands/index.js')).COMMANDS;

const { version } = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };

const program = new Command('usage-agent')
  .description('Endpoint usage-collection agent: process accounting, activity, license leases')
  .version(version)
  .showHelpAfterError()
  .enablePositionalOptions();

for (const register of COMMANDS) register(program);

await program.parseAsync(process.argv);
