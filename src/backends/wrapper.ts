/**
 * The job wrapper every backend runs: it runs the command, and writes the exit code to the exit-code
 * file when the command ends, 130/143 when the job is interrupted/terminated (as Belle II CAF does).
 * The file is written atomically (temp file + rename) so a reader never sees a partial number.
 *
 * With RUNCTRL_REPORT_URL and RUNCTRL_REPORT_LINE in its environment, the wrapper then posts that line with the
 * exit code (a job-end report that wakes the automation daemon) with curl, best effort (5 s at most, errors
 * ignored). The credentials (RUNCTRL_INFLUXDB_TOKEN, or RUNCTRL_INFLUXDB_USER and RUNCTRL_INFLUXDB_PASSWORD)
 * come from the job's environment and go to curl on its standard input: never in a file or an argument list.
 */
import type { JobSpec } from './types.js';

/** Single-quotes a string for /bin/sh. */
export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Shell function `runctrl_report RC`: the job-end report (see above). */
const REPORT_FN = [
  `runctrl_esc() { printf '%s' "$1" | sed 's/[\\\\"]/\\\\&/g'; }`,
  `runctrl_report() {`,
  `  command -v curl >/dev/null 2>&1 || return 0`,
  `  { if [ -n "\${RUNCTRL_INFLUXDB_TOKEN:-}" ]; then printf 'header = "Authorization: Token %s"\\n' "$(runctrl_esc "$RUNCTRL_INFLUXDB_TOKEN")";`,
  `    elif [ -n "\${RUNCTRL_INFLUXDB_USER:-}" ]; then printf 'user = "%s:%s"\\n' "$(runctrl_esc "$RUNCTRL_INFLUXDB_USER")" "$(runctrl_esc "\${RUNCTRL_INFLUXDB_PASSWORD:-}")"; fi`,
  `    printf 'data-binary = "%s%si"\\n' "$(runctrl_esc "$RUNCTRL_REPORT_LINE")" "$1"`,
  `  } | curl -sS -m 5 -o /dev/null -K - "$RUNCTRL_REPORT_URL" >/dev/null 2>&1 || true`,
  `}`,
].join('\n');

/**
 * `lean` (the local executor, which reads the exit-code file only after the job's process has ended, see
 * local-executor.ts): no process is started but for the command itself — the exit code is written in place
 * (one write of a few bytes; a reader that finds the file empty takes it as not written yet) instead of
 * temp file + `mv`, and the command runs in a subshell (`eval`) instead of a new `/bin/sh -c`.
 */
export interface WrapperOptions {
  lean?: boolean;
}

/** The body of a job script (POSIX sh), without batch directives. */
export function wrapperBody(job: JobSpec, opts: WrapperOptions = {}): string {
  const ec = shq(job.exitCodeFile);
  const env = Object.entries(job.env)
    .map(([k, v]) => `export ${k}=${shq(v)}`)
    .join('\n');
  return [
    opts.lean
      ? `runctrl_write_ec() { printf '%s\\n' "$1" > ${ec}; }`
      : `runctrl_write_ec() { printf '%s\\n' "$1" > ${ec}.tmp.$$ && mv -f ${ec}.tmp.$$ ${ec}; }`,
    `trap 'runctrl_write_ec 143; exit 143' TERM`,
    `trap 'runctrl_write_ec 130; exit 130' INT`,
    `cd ${shq(job.workDir)} || { runctrl_write_ec 1; exit 1; }`,
    env,
    `export RUNCTRL_JOB_NAME=${shq(job.name)}`,
    opts.lean
      ? `runctrl_cmd=${shq(job.command)}; ( eval "$runctrl_cmd" ) &`
      : `/bin/sh -c ${shq(job.command)} &`,
    `runctrl_child=$!`,
    `wait $runctrl_child`,
    `runctrl_rc=$?`,
    `runctrl_write_ec $runctrl_rc`,
    REPORT_FN,
    `[ -z "\${RUNCTRL_REPORT_URL:-}" ] || [ -z "\${RUNCTRL_REPORT_LINE:-}" ] || runctrl_report $runctrl_rc`,
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
