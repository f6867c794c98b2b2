import { describe, expect, it } from 'vitest';
import {
  encodePoints,
  int,
  KEY_SPACE,
  LineEncoder,
  nextMs,
  type PointSpec,
} from '../../src/store/lineproto.js';

const ts = (line: string): bigint => BigInt(line.slice(line.lastIndexOf(' ') + 1));
const seriesOf = (line: string): string => line.slice(0, line.indexOf(' '));

describe('encodePoints', () => {
  it('makes the entity key the sub-millisecond part of the timestamp', () => {
    const { lines, ms } = encodePoints([
      {
        measurement: 'run',
        tags: { campaign: 'c', workflow: 'w' },
        fields: { run: int(386642), status: 'new' },
        key: 386642,
      },
      {
        measurement: 'run',
        tags: { workflow: 'w', campaign: 'c' },
        fields: { run: int(1386643), status: 'new' },
        key: 1386643,
      },
    ]);
    expect(lines[0]).toBe(
      `run,campaign=c,workflow=w run=386642i,status="new" ${BigInt(ms) * 1_000_000n + 386642n}`,
    );
    expect(ts(lines[1] ?? '')).toBe(BigInt(ms) * 1_000_000n + 386643n);
  });

  it('gives every point of one series a unique timestamp, even when keys collide', () => {
    const points: PointSpec[] = [];
    for (let i = 0; i < 3000; i++) {
      // keys 5, 1_000_005, 2_000_005 … collide modulo the key space; the same key again collides too
      points.push({
        measurement: 'run',
        tags: { campaign: 'c', workflow: 'w' },
        fields: { v: int(i) },
        key: 5 + (i % 3) * KEY_SPACE,
      });
      points.push({
        measurement: 'run',
        tags: { campaign: 'c', workflow: 'w' },
        fields: { v: int(i) },
        key: i,
      });
    }
    const { lines } = encodePoints(points);
    const seen = new Set(lines.map((l) => `${seriesOf(l)} ${ts(l)}`));
    expect(seen.size).toBe(lines.length);
    // order of points (and so of time) is kept for the same entity: later points, later timestamps
    const fives = lines.filter((l) => ts(l) % 1_000_000n === 5n).map(ts);
    expect([...fives].sort((a, b) => (a < b ? -1 : 1))).toEqual(fives);
  });

  it('lets distinct series share a timestamp (no needless millisecond bumps)', () => {
    const { lines } = encodePoints([
      { measurement: 'rtype', tags: { campaign: 'c', rtype: 'a' }, fields: { x: 'a' }, key: 0 },
      { measurement: 'rtype', tags: { campaign: 'c', rtype: 'b' }, fields: { x: 'b' }, key: 0 },
    ]);
    expect(ts(lines[0] ?? '')).toBe(ts(lines[1] ?? ''));
  });

  it('never reuses a millisecond across writes of one process, even with a clock going back', () => {
    const a = nextMs(1_000);
    const b = nextMs(900);
    expect(b).toBeGreaterThan(a);
    const first = encodePoints([{ measurement: 'm', tags: { c: 'x' }, fields: { v: 1 }, key: 1 }]);
    const second = encodePoints([{ measurement: 'm', tags: { c: 'x' }, fields: { v: 2 }, key: 1 }]);
    expect(second.ms).toBeGreaterThan(first.ms);
  });

  it('escapes names from users in measurement, tags and string fields', () => {
    const { lines } = encodePoints([
      {
        measurement: 'run',
        tags: { campaign: 'a b,c=d' },
        fields: { reason: 'said "no"\\', ok: true, n: int(3), f: 1.5 },
        key: 1,
      },
    ]);
    expect(lines[0]).toMatch(/^run,campaign=a\\ b\\,c\\=d reason="said \\"no\\"\\\\",ok=T,n=3i,f=1\.5 \d+$/);
  });

  it('writes the field keys of each point, whatever the fields of the points before it in the series', () => {
    const tags = { campaign: 'c' };
    const fieldSets: PointSpec['fields'][] = [
      { run: int(1), status: 'new' },
      { run: int(2), status: 'new' },
      { run: int(3), status: undefined, reason: 'x' },
      { status: 'done', run: int(4) },
      { run: int(5) },
      { run: int(6), status: 'new', 'a b': 1.5 },
      { run: int(7), status: 'new' },
      { run: undefined, status: 'new' },
    ];
    const { lines } = encodePoints(
      fieldSets.map((fields, i) => ({ measurement: 'm', tags, fields, key: i })),
    );
    expect(lines.map((l) => l.slice(0, l.lastIndexOf(' ')))).toEqual([
      'm,campaign=c run=1i,status="new"',
      'm,campaign=c run=2i,status="new"',
      'm,campaign=c run=3i,reason="x"',
      'm,campaign=c status="done",run=4i',
      'm,campaign=c run=5i',
      'm,campaign=c run=6i,status="new",a\\ b=1.5',
      'm,campaign=c run=7i,status="new"',
      'm,campaign=c status="new"',
    ]);
  });

  it('refuses points that would write a wrong line (a bug, not user input)', () => {
    expect(() => encodePoints([{ measurement: 'm', tags: { c: '' }, fields: { v: 1 }, key: 1 }])).toThrow(
      /empty tag c/,
    );
    expect(() => encodePoints([{ measurement: 'm', tags: {}, fields: { v: undefined }, key: 1 }])).toThrow(
      /without fields/,
    );
    expect(() => encodePoints([{ measurement: 'm', tags: {}, fields: { v: Number.NaN }, key: 1 }])).toThrow(
      /non-finite/,
    );
  });

  it('LineEncoder keeps timestamps unique across calls and treats tag order as the same series', () => {
    const enc = new LineEncoder();
    const a = enc.line({
      measurement: 'run',
      tags: { campaign: 'c', workflow: 'w' },
      fields: { v: int(1) },
      key: 5,
    });
    const b = enc.line({
      measurement: 'run',
      tags: { workflow: 'w', campaign: 'c' },
      fields: { v: int(2) },
      key: 5,
    });
    const c = enc.line({
      measurement: 'run',
      tags: { campaign: 'c', workflow: 'x' },
      fields: { v: int(3) },
      key: 5,
    });
    expect(seriesOf(a)).toBe('run,campaign=c,workflow=w');
    expect(seriesOf(b)).toBe('run,campaign=c,workflow=w');
    expect(ts(b)).toBeGreaterThan(ts(a));
    expect(ts(b) % 1_000_000n).toBe(5n);
    expect(ts(c)).toBe(ts(b));
    expect(ts(a) / 1_000_000n).toBe(BigInt(enc.firstMs));
  });

  it('detects a repeated key among thousands of points of one series (bitmap path)', () => {
    const points: PointSpec[] = [];
    for (let run = 1; run <= 5000; run++)
      points.push({
        measurement: 'run',
        tags: { campaign: 'c', workflow: 'w' },
        fields: { v: int(run) },
        key: run,
      });
    points.push({
      measurement: 'run',
      tags: { campaign: 'c', workflow: 'w' },
      fields: { v: int(0) },
      key: 4999,
    });
    points.push({
      measurement: 'run',
      tags: { campaign: 'c', workflow: 'w' },
      fields: { v: int(0) },
      key: 4999,
    });
    const { lines, ms } = encodePoints(points);
    expect(new Set(lines.map(ts)).size).toBe(lines.length);
    expect(ts(lines[4999] ?? '') / 1_000_000n).toBe(BigInt(ms));
    // each repeat moves on to a later millisecond, with the same key below it
    expect(ts(lines[5000] ?? '') / 1_000_000n).toBeGreaterThan(BigInt(ms));
    expect(ts(lines[5001] ?? '')).toBeGreaterThan(ts(lines[5000] ?? ''));
    expect(ts(lines[5001] ?? '') % 1_000_000n).toBe(4999n);
  });
});
