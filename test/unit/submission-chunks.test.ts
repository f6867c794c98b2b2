import { describe, expect, it } from 'vitest';
import { FIRST_CHUNK, submissionChunks } from '../../src/automation/submit.js';

describe('submissionChunks', () => {
  const items = Array.from({ length: 199 }, (_, i) => i);

  it('a backend that starts jobs at once gets doubling chunks, in order, each item once', () => {
    const chunks = submissionChunks(items, true);
    expect(chunks.map((c) => c.length)).toEqual([FIRST_CHUNK, 2 * FIRST_CHUNK, 199 - 3 * FIRST_CHUNK]);
    expect(chunks.flat()).toEqual(items);
  });

  it('a batch system gets one bulk submission; nothing to submit gives no chunk', () => {
    expect(submissionChunks(items, false)).toEqual([items]);
    expect(submissionChunks([], true)).toEqual([]);
    expect(submissionChunks([], false)).toEqual([]);
  });
});
