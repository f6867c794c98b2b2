/**
 * The dashboard of a running daemon (`runctrl automation --daemon --serve PORT`): the pages are served from the
 * daemon's own state (its StateCache entries), adding no InfluxDB load. The loop calls `publish` after each
 * pass with the campaigns and locks it read; listeners (open pages) are then told to refresh.
 */
import type { CampaignState } from '../core/dashboard.js';
import type { Campaign } from '../domain/campaign.js';
import type { LockRecord } from '../domain/jobs.js';
import { serve, type Dashboard, type ServeOptions } from './server.js';
import { memorySource, type MemoryProvider } from './source.js';

export interface LiveDashboard extends Dashboard {
  /** After a pass: what the daemon now knows. */
  publish(campaigns: Campaign[], locks: LockRecord[]): void;
}

export function liveProvider(entries: ReadonlyMap<string, CampaignState>): MemoryProvider & {
  publish(campaigns: Campaign[], locks: LockRecord[]): void;
} {
  let campaigns: Campaign[] = [];
  let locks: LockRecord[] = [];
  const listeners = new Set<() => void>();
  return {
    campaigns: () => campaigns,
    state: (c) => entries.get(c),
    locks: () => locks,
    changed: (l) => (listeners.add(l), () => void listeners.delete(l)),
    publish: (cs, ls) => {
      campaigns = cs;
      locks = ls;
      // a page's listener never reaches the loop that publishes
      listeners.forEach((l) => {
        try {
          l();
        } catch {
          listeners.delete(l);
        }
      });
    },
  };
}

export async function serveLive(o: {
  entries: ReadonlyMap<string, CampaignState>;
  port: number;
  host?: string;
  jobRoot: string;
  maxInFlight?: number;
  log?: (line: string) => void;
  /** --allow-host names. */
  allowHosts?: string[];
  /** The daemon's secrets (src/util/redact.ts), kept out of every answer. */
  secrets?: string[];
  endpoints?: ServeOptions['endpoints'];
}): Promise<LiveDashboard> {
  const p = liveProvider(o.entries);
  const d = await serve({
    source: memorySource(p),
    port: o.port,
    host: o.host ?? '127.0.0.1',
    jobRoot: o.jobRoot,
    ...(o.maxInFlight !== undefined ? { maxInFlight: o.maxInFlight } : {}),
    ...(o.log ? { log: o.log } : {}),
    ...(o.allowHosts ? { allowHosts: o.allowHosts } : {}),
    ...(o.secrets ? { secrets: o.secrets } : {}),
    portFlag: '--serve',
    ...(o.endpoints ? { endpoints: o.endpoints } : {}),
  });
  return { ...d, publish: p.publish };
}
