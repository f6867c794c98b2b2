/** runctrl's version, from its package.json (for heartbeats and the CLI). */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from './config.js';

let cached: string | undefined;

export function runctrlVersion(): string {
  if (cached !== undefined) return cached;
  try {
    const v = (
      JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version?: unknown }
    ).version;
    cached = typeof v === 'string' ? v : 'unknown';
  } catch {
    cached = 'unknown';
  }
  return cached;
}
