/**
 * The job wrapper every backend runs: it runs the command, and writes the exit code to the exit-code
 * file when the command ends, 130/143 when the job is interrupted/terminated (as Belle II CAF does).
 * The file is written atomically (temp file + rename) so a reader never sees a partial number.
 */
import type { JobSpec } from './types.js';

/** Single-quotes a string for /bin/sh. */
export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The body of a job script (POSIX sh), without batch directives. */
export function wrapperBody(job: JobSpec): string {
  const ec = shq(job.exitCodeFile);
  const env = Object.entries(job.env)
    .map(([k, v]) => `export ${k}=${shq(v)}`)
    .join('\n');
  return [
    `runctrl_write_ec() { printf '%s\\n' "$1" > ${ec}.tmp.$$ && mv -f ${ec}.tmp.$$ ${ec}; }`,
    `trap 'runctrl_write_ec 143; exit 143' TERM`,
    `trap 'runctrl_write_ec 130; exit 130' INT`,
    `cd ${shq(job.workDir)} || { runctrl_write_ec 1; exit 1; }`,
    env,
    `export RUNCTRL_JOB_NAME=${shq(job.name)}`,
    `/bin/sh -c ${shq(job.command)} &`,
    `runctrl_child=$!`,
    `wait $runctrl_child`,
    `runctrl_rc=$?`,
    `runctrl_write_ec $runctrl_rc`,
    `exit $runctrl_rc`,
    '',
  ]
    .filter((l) => l !== '')
    .join('\n')
    .concat('\n');
}

/** A complete script with a shebang and optional directive lines (e.g. `#SBATCH …`). */
export function jobScript(job: JobSpec, directives: string[] = []): string {
  return ['#!/bin/sh', ...directives, wrapperBody(job)].join('\n');
}
