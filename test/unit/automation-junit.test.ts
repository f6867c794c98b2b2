/** The JUnit XML report of a pass (`junitXml`): well-formed, failures counted, text escaped. */
import { describe, expect, it } from 'vitest';
import { junitXml } from '../../src/automation/junit.js';
import type { CampaignReport, PassReport } from '../../src/automation/pass.js';

interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

/** XML 1.0 Char production. */
function isXmlChar(cp: number): boolean {
  return (
    cp === 0x09 ||
    cp === 0x0a ||
    cp === 0x0d ||
    (cp >= 0x20 && cp <= 0xd7ff) ||
    (cp >= 0xe000 && cp <= 0xfffd) ||
    (cp >= 0x10000 && cp <= 0x10ffff)
  );
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decode(raw: string, where: string): string {
  if (raw.includes('<')) throw new Error(`raw '<' in ${where}`);
  return raw.replace(/&([^;]*);|&/g, (m, name: string | undefined) => {
    if (name === undefined) throw new Error(`bare '&' in ${where}`);
    const e = ENTITIES[name];
    if (e !== undefined) return e;
    const num = /^#(x[0-9a-fA-F]+|[0-9]+)$/.exec(name)?.[1];
    if (num === undefined) throw new Error(`unknown entity ${m} in ${where}`);
    return String.fromCodePoint(num.startsWith('x') ? parseInt(num.slice(1), 16) : Number(num));
  });
}

/**
 * A strict parser for the subset of XML the report uses (declaration, elements, attributes, text):
 * throws on anything that is not well-formed. Returns the root element.
 */
function parseXml(doc: string): XmlElement {
  for (const ch of doc) {
    const cp = ch.codePointAt(0) ?? 0;
    if (!isXmlChar(cp)) throw new Error(`character U+${cp.toString(16)} is not allowed in XML`);
  }
  let i = 0;
  const decl = /^<\?xml version="1\.0" encoding="UTF-8"\?>\n/.exec(doc);
  if (decl) i = decl[0].length;
  const name = /^[A-Za-z_][\w.-]*/;
  const skipBlank = (): void => {
    while (/\s/.test(doc[i] ?? '')) i++;
  };
  const element = (): XmlElement => {
    if (doc[i] !== '<') throw new Error(`expected '<' at ${i}`);
    i++;
    const n = name.exec(doc.slice(i))?.[0];
    if (!n) throw new Error(`expected an element name at ${i}`);
    i += n.length;
    const el: XmlElement = { name: n, attrs: {}, children: [], text: '' };
    for (;;) {
      skipBlank();
      if (doc.startsWith('/>', i)) {
        i += 2;
        return el;
      }
      if (doc[i] === '>') {
        i++;
        break;
      }
      const a = /^([A-Za-z_][\w.-]*)="([^"]*)"/.exec(doc.slice(i));
      if (!a || a[1] === undefined || a[2] === undefined) throw new Error(`bad attribute at ${i}`);
      if (a[1] in el.attrs) throw new Error(`duplicate attribute ${a[1]}`);
      el.attrs[a[1]] = decode(a[2], `attribute ${a[1]}`);
      i += a[0].length;
    }
    for (;;) {
      const lt = doc.indexOf('<', i);
      if (lt < 0) throw new Error(`element ${n} is not closed`);
      el.text += decode(doc.slice(i, lt), `text of ${n}`);
      i = lt;
      if (doc.startsWith('</', i)) {
        const close = `</${n}>`;
        if (!doc.startsWith(close, i)) throw new Error(`expected ${close} at ${i}`);
        i += close.length;
        return el;
      }
      el.children.push(element());
    }
  };
  const root = element();
  if (doc.slice(i).trim() !== '') throw new Error(`content after the root element: ${doc.slice(i, i + 40)}`);
  return root;
}

function campaignReport(name: string, done: number): CampaignReport {
  return {
    campaign: name,
    activity: 'active',
    registered: 0,
    submitted: 0,
    resubmitted: 0,
    deferred: 0,
    rejected: 0,
    transitions: 0,
    done,
    failed: 0,
    retried: 0,
    inFlight: 0,
    waiting: {},
    undefinedWorkflows: [],
    wouldSubmit: [],
  };
}

function report(over: Partial<PassReport> = {}): PassReport {
  return {
    startedAt: Date.UTC(2026, 0, 2, 3, 4, 5, 678),
    durationMs: 1_234,
    dryRun: false,
    wake: false,
    sensed: 0,
    campaigns: [],
    failures: [],
    problems: [],
    queries: 0,
    ...over,
  };
}

const cases = (root: XmlElement): XmlElement[] => root.children.filter((c) => c.name === 'testcase');

describe('junitXml', () => {
  it('writes one passing test case for a quiet pass', () => {
    const root = parseXml(junitXml(report()));
    expect(root.name).toBe('testsuite');
    expect(root.attrs).toMatchObject({
      name: 'runctrl automation',
      tests: '1',
      failures: '0',
      errors: '0',
      time: '1.234',
      timestamp: '2026-01-02T03:04:05.678Z',
    });
    expect(cases(root).map((c) => c.attrs)).toEqual([{ classname: 'runctrl.pass', name: 'pass' }]);
  });

  it('counts failures (pairs failed for good and problems) and lists the done pairs as passing cases', () => {
    const root = parseXml(
      junitXml(
        report({
          campaigns: [campaignReport('rereco', 12), campaignReport('prompt', 0)],
          failures: [
            {
              campaign: 'rereco',
              workflow: 'reco',
              run: 7,
              reason: 'exit code 1',
              job: 'rc.rereco.reco.r7.a3',
            },
            { campaign: 'rereco', workflow: 'pi0', run: 8, reason: 'lost', job: 'rc.rereco.pi0.r8.a1' },
          ],
          problems: ['backend slurm: status query failed'],
        }),
      ),
    );
    const cs = cases(root);
    expect(root.attrs).toMatchObject({ tests: String(cs.length), failures: '3', errors: '0' });
    expect(cs.map((c) => [c.attrs.classname, c.attrs.name, c.children.map((x) => x.name).join()])).toEqual([
      ['rereco.reco', 'run 7', 'failure'],
      ['rereco.pi0', 'run 8', 'failure'],
      ['runctrl.pass', 'problem', 'failure'],
      ['rereco', '12 run×workflow pair(s) done', ''],
    ]);
    expect(cs[0]?.children[0]?.attrs.message).toBe('exit code 1');
    expect(cs[0]?.children[0]?.text).toBe('job rc.rereco.reco.r7.a3: exit code 1');
    const props = root.children.find((c) => c.name === 'properties')?.children ?? [];
    expect(props.map((p) => p.attrs)).toEqual([{ name: 'done', value: '12' }]);
    expect(cs.filter((c) => c.children.some((x) => x.name === 'failure'))).toHaveLength(
      Number(root.attrs.failures),
    );
  });

  it('reports an infrastructure error as an error', () => {
    const root = parseXml(
      junitXml(report(), 'cannot reach InfluxDB at http://127.0.0.1:8086 (ECONNREFUSED)'),
    );
    expect(root.attrs).toMatchObject({ tests: '1', failures: '0', errors: '1' });
    const err = cases(root)[0]?.children[0];
    expect(err?.name).toBe('error');
    expect(err?.attrs.message).toBe('cannot reach InfluxDB at http://127.0.0.1:8086 (ECONNREFUSED)');
  });

  it('escapes markup and drops characters XML cannot carry', () => {
    const reason = `exit code 1: <segfault> & "core" 'dumped' \u001b[31mred\u001b[0m \u0000 tail ${'\ud800'} ok ✓ 𝔼`;
    const xml = junitXml(
      report({
        failures: [{ campaign: 'c&d', workflow: 'w<1>', run: 1, reason, job: 'j"1' }],
        problems: ['<![CDATA[ ]]> & </testsuite>'],
      }),
    );
    const root = parseXml(xml);
    const [f, p] = cases(root);
    expect(f?.attrs.classname).toBe('c&d.w<1>');
    const expected = `exit code 1: <segfault> & "core" 'dumped' \uFFFD[31mred\uFFFD[0m \uFFFD tail \uFFFD ok ✓ 𝔼`;
    expect(f?.children[0]?.attrs.message).toBe(expected);
    expect(f?.children[0]?.text).toBe(`job j"1: ${expected}`);
    expect(p?.children[0]?.attrs.message).toBe('<![CDATA[ ]]> & </testsuite>');
  });
});
