/** Executes a plan on this machine, and probes the machine state plans are built from. */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { writeFileAtomic } from '../shared/atomic-file.js';
import { encodeContents } from './layout.js';
import type { MachineState, Plan, Step } from './plan.js';

/** sysexits.h EX_NOPERM: installing a system service needs root (Administrator on Windows). */
export const EX_NOPERM = 77;

export function findExecutable(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

export function probeMachine(): MachineState {
  return {
    systemdRunning: existsSync('/run/systemd/system'),
    hasSystemctl: findExecutable('systemctl') !== undefined,
    hasSysusers: findExecutable('systemd-sysusers') !== undefined,
    read(path) {
      try {
        return readFileSync(path);
      } catch {
        return undefined;
      }
    },
    exists: (path) => existsSync(path),
  };
}

export function isPrivileged(os: NodeJS.Platform = process.platform): boolean {
  if (os === 'win32') return spawnSync('net', ['session'], { stdio: 'ignore' }).status === 0;
  return process.getuid?.() === 0;
}

export interface StepResult {
  step: Step;
  ok: boolean;
  detail?: string;
}

/** Runs the steps in order; stops at the first failure that is not marked ignorable. */
export function applyPlan(plan: Plan, log: (line: string) => void): { ok: boolean; results: StepResult[] } {
  const results: StepResult[] = [];
  for (const step of plan.steps) {
    const result = applyStep(step);
    results.push(result);
    log(describe(result));
    if (!result.ok && !(step.kind === 'run' && step.ignoreFailure)) return { ok: false, results };
  }
  return { ok: true, results };
}

function applyStep(step: Step): StepResult {
  try {
    switch (step.kind) {
      case 'mkdir':
        if (!existsSync(step.path)) {
          mkdirSync(step.path, { recursive: true, mode: step.mode });
          chmodSync(step.path, step.mode); // mkdir's mode is filtered by the umask
        }
        return { step, ok: true };
      case 'write': {
        if (step.state === 'keep' || step.state === 'unchanged') return { step, ok: true };
        // Atomic: a crash never leaves a half-written unit or config behind. Then the exact mode,
        // whatever root's umask (a unit must be readable by systemd's user managers).
        writeFileAtomic(step.path, encodeContents(step, step.contents), { mode: step.mode });
        chmodSync(step.path, step.mode);
        return { step, ok: true };
      }
      case 'remove':
        rmSync(step.path, { recursive: step.recursive, force: true });
        return { step, ok: true };
      case 'run': {
        const r = spawnSync(step.argv[0]!, step.argv.slice(1), { encoding: 'utf8' });
        const output = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
        if (r.error) return { step, ok: false, detail: r.error.message };
        return { step, ok: r.status === 0, detail: r.status === 0 ? output || undefined : `exit ${r.status}${output ? `: ${output}` : ''}` };
      }
    }
  } catch (err) {
    return { step, ok: false, detail: (err as Error).message };
  }
}

function describe({ step, ok, detail }: StepResult): string {
  const status = ok ? '' : step.kind === 'run' && step.ignoreFailure ? ' (failed, ignored)' : ' FAILED';
  const tail = detail ? `: ${detail}` : '';
  switch (step.kind) {
    case 'mkdir':
      return `dir ${step.path}${status}${tail}`;
    case 'write':
      return `${{ create: 'created', update: 'updated', unchanged: 'unchanged', keep: 'kept existing' }[step.state]} ${step.path}${status}${tail}`;
    case 'remove':
      return `${step.present ? 'removed' : 'absent'} ${step.path}${status}${tail}`;
    case 'run':
      return `ran ${step.argv.join(' ')}${status}${tail}`;
  }
}
