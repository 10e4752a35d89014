import type { Command } from 'commander';
import { registerRecords } from './records.js';
import { registerRun } from './run.js';
import { registerService } from './service.js';
import { registerSession } from './session.js';
import { registerStatus } from './status.js';

/** Each subcommand lives in its own module; this list is the CLI. */
export const COMMANDS: Array<(program: Command) => void> = [registerRun, registerRecords, registerStatus, registerService, registerSession];
