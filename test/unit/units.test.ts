import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { joinNames } from '../../src/automation/units.js';

describe('joinNames', () => {
  it('equals path.join for plain names and for anything else', () => {
    const dirs = [
      '/scratch/jobs',
      '/scratch/jobs/',
      '/',
      'rel/dir',
      '/a//b',
      '/a/./b',
      '/a/../b',
      '..',
      '.',
      '',
      '/x/.hidden',
    ];
    const names = [
      ['rereco_2024', 'ecal-reco', 'r379847', 'a1'],
      ['c', 'w', 'gRun2024C-1', 'a12'],
      ['..', 'x'],
      ['.', 'y'],
      ['a/b'],
      ['.hidden', 'v1.2'],
      [],
    ];
    for (const d of dirs)
      for (const n of names) expect(joinNames(d, ...n), `${d} + ${n.join(',')}`).toBe(path.join(d, ...n));
  });
});
