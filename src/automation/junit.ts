/** JUnit XML for Jenkins: one test case per run × workflow finalised in the pass; failures show as failures. */
import type { PassReport } from './pass.js';

/**
 * Characters XML 1.0 does not allow at all, even escaped (control characters such as ESC from a job's colour
 * output, lone surrogates), become U+FFFD: otherwise Jenkins could not parse the report.
 */
function xmlChars(s: string): string {
  let out = '';
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    const bad =
      (cp < 0x20 && cp !== 0x09 && cp !== 0x0a && cp !== 0x0d) ||
      (cp >= 0xd800 && cp <= 0xdfff) ||
      cp === 0xfffe ||
      cp === 0xffff;
    out += bad ? '\uFFFD' : ch;
  }
  return out;
}

function esc(s: string): string {
  return xmlChars(s)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

export function junitXml(r: PassReport, infraError?: string): string {
  const cases: string[] = [];
  for (const f of r.failures) {
    cases.push(
      `  <testcase classname="${esc(`${f.campaign}.${f.workflow}`)}" name="run ${f.run}"><failure message="${esc(f.reason)}">${esc(`job ${f.job}: ${f.reason}`)}</failure></testcase>`,
    );
  }
  for (const p of r.problems)
    cases.push(
      `  <testcase classname="runctrl.pass" name="problem"><failure message="${esc(p)}"/></testcase>`,
    );
  if (infraError)
    cases.push(
      `  <testcase classname="runctrl.pass" name="infrastructure"><error message="${esc(infraError)}"/></testcase>`,
    );
  const ok = r.campaigns.reduce((n, c) => n + c.done, 0);
  for (const c of r.campaigns) {
    if (c.done > 0)
      cases.push(`  <testcase classname="${esc(c.campaign)}" name="${c.done} run×workflow pair(s) done"/>`);
  }
  if (cases.length === 0) cases.push('  <testcase classname="runctrl.pass" name="pass"/>');
  const failures = r.failures.length + r.problems.length;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuite name="runctrl automation" tests="${cases.length}" failures="${failures}" errors="${infraError ? 1 : 0}" time="${(r.durationMs / 1000).toFixed(3)}" timestamp="${new Date(r.startedAt).toISOString()}">`,
    `  <properties><property name="done" value="${ok}"/></properties>`,
    ...cases,
    '</testsuite>',
    '',
  ].join('\n');
}
