/** Command templates (`renderCommand`): placeholders and shell quoting. */
import { describe, expect, it } from 'vitest';
import { renderCommand, templateHandler, type UnitInfo } from '../../src/automation/handler.js';
import type { WorkflowSpec } from '../../src/domain/workflow.js';

const unit: UnitInfo = {
  campaign: 'rereco24',
  workflow: 'timing',
  unit: 'gRun2024C-380001-380003',
  runs: [380001, 380002, 380003],
  attempt: 2,
  era: 'Run2024C',
  fill: 9123,
  inputs: { reco: ['/eos/reco/380001.root', '/eos/reco/380002.root'], laser: ['/eos/laser/a.db'] },
  outdir: '/data/out/rereco24/timing/gRun2024C-380001-380003',
};

/**
 * Splits a command line into words the way a POSIX shell does for the subset the quoting produces:
 * blanks separate words, '…' quotes literally, a backslash escapes the next character. Any other special
 * character outside quotes is an error: the rendering must not leave one unquoted.
 */
function shellWords(line: string): string[] {
  const words: string[] = [];
  let cur: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i] ?? '';
    if (ch === ' ' || ch === '\t') {
      if (cur !== undefined) words.push(cur);
      cur = undefined;
    } else if (ch === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unterminated quote in ${line}`);
      cur = (cur ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (ch === '\\') {
      cur = (cur ?? '') + (line[i + 1] ?? '');
      i++;
    } else if (/[A-Za-z0-9_.,:/=+@%-]/.test(ch)) {
      cur = (cur ?? '') + ch;
    } else {
      throw new Error(`unquoted special character ${JSON.stringify(ch)} in ${line}`);
    }
  }
  if (cur !== undefined) words.push(cur);
  return words;
}

describe('renderCommand', () => {
  it('fills every placeholder', () => {
    expect(
      renderCommand(
        'proc {run} {runs} {fill} {era} {campaign} {workflow} {attempt} {outdir} {inputs} {group}',
        unit,
      ).split(' '),
    ).toEqual([
      'proc',
      '380001',
      '380001,380002,380003',
      '9123',
      'Run2024C',
      'rereco24',
      'timing',
      '2',
      '/data/out/rereco24/timing/gRun2024C-380001-380003',
      '/eos/reco/380001.root',
      '/eos/reco/380002.root',
      '/eos/laser/a.db',
      'gRun2024C-380001-380003',
    ]);
  });

  it('fills a placeholder as often as it appears, inside words too, and leaves unknown ones alone', () => {
    expect(renderCommand('cp {outdir}/x.root /backup/{era}_{run}.root # {run} {nope}', unit)).toBe(
      'cp /data/out/rereco24/timing/gRun2024C-380001-380003/x.root /backup/Run2024C_380001.root # 380001 {nope}',
    );
  });

  it('quotes values that are not shell-safe so each stays one literal word', () => {
    const nasty: UnitInfo = {
      ...unit,
      era: 'Run 2024C; rm -rf ~',
      campaign: "o'brien",
      outdir: '/data/$(whoami)/`id`/*',
      inputs: { reco: ['/a b/1.root', 'x"y'] },
    };
    const line = renderCommand('proc --era {era} --campaign {campaign} --out {outdir} {inputs}', nasty);
    expect(line).toBe(
      `proc --era 'Run 2024C; rm -rf ~' --campaign 'o'\\''brien' --out '/data/$(whoami)/\`id\`/*' '/a b/1.root' 'x"y'`,
    );
    expect(shellWords(line)).toEqual([
      'proc',
      '--era',
      'Run 2024C; rm -rf ~',
      '--campaign',
      "o'brien",
      '--out',
      '/data/$(whoami)/`id`/*',
      '/a b/1.root',
      'x"y',
    ]);
  });

  it('gives each input as one word, whole: commas, spaces and quotes kept', () => {
    const u: UnitInfo = {
      ...unit,
      inputs: { a: ['/eos/run_900100,v2.root', "it's here.root"], b: ['plain.root'] },
    };
    const line = renderCommand('proc {inputs}', u);
    expect(shellWords(line)).toEqual(['proc', '/eos/run_900100,v2.root', "it's here.root", 'plain.root']);
  });

  it('keeps an empty value as one (empty) argument', () => {
    const none: UnitInfo = { ...unit, era: '', inputs: {} };
    const line = renderCommand('proc --era {era} --inputs {inputs} --out {outdir}', none);
    expect(line).toBe(`proc --era '' --inputs '' --out ${unit.outdir}`);
    expect(shellWords(line)).toEqual(['proc', '--era', '', '--inputs', '', '--out', unit.outdir]);
  });

  it('is what the default (template) handler runs', async () => {
    const spec: WorkflowSpec = {
      name: 'timing',
      command: 'proc {run} {era}',
      backend: 'local',
      resources: {},
      dependsOn: [],
      maxRetries: 2,
      granularity: { kind: 'run' },
    };
    expect(await templateHandler(spec).command(unit)).toBe('proc 380001 Run2024C');
  });
});
