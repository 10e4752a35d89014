#!/usr/bin/env node
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../config/paths.js';
import { COMMANDS } from './commands/index.js';

const { version } = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };

const program = new Command('usage-agent')
  .description('Endpoint usage-collection agent: process accounting, activity, license leases')
  .version(version)
  .showHelpAfterError()
  .enablePositionalOptions();

for (const register of COMMANDS) register(program);

await program.parseAsync(process.argv);
