/**
 * Where the dashboard's data comes from. `storeSource` reads through src/store (for `runctrl serve`) and
 * watches a cheap fingerprint query for changes; `memorySource` wraps the live state of a running daemon
 * (`automation --daemon --serve PORT`), adding no InfluxDB load.
 */
import { readLoopHealth, type LoopHealthInput } from '../core/loops.js';
import type { CampaignState } from '../core/dashboard.js';
import type { Campaign } from '../domain/campaign.js';
import type { LockRecord } from '../domain/jobs.js';
import type { RunState } from '../domain/state.js';
import { changeFingerprint, runHistory } from '../store/dashboard.js';
import { lastPrune, type PruneMarker } from '../store/retention.js';
import type { Store } from '../store/store.js';

export type { CampaignState };

/** What a daemon hands the dashboard (its own in-memory state). */
export interface MemoryProvider {
  campaigns(): Campaign[];
  state(campaign: string): CampaignState | undefined;
  locks(): LockRecord[];
  changed(listener: () => void): () => void;
}

export interface DashboardSource {
  campaigns(): Promise<Campaign[]>;
  state(campaign: string): Promise<CampaignState | undefined>;
  locks(): Promise<LockRecord[]>;
  /** Every status point of a run, oldest first (a daemon knows only the current ones). */
  history(campaign: string, run: number): Promise<RunState[]>;
  /** The newest prune marker (history before its cutoff was deleted by retention), if the source knows it. */
  pruned?(campaign: string): Promise<PruneMarker | undefined>;
  changed(listener: () => void): () => void;
  close(): void;
  /** Heartbeats and lease claims (loop health); read fresh at every call. */
  loopHealth?: () => Promise<LoopHealthInput>;
}

function listeners(): { add(l: () => void): () => void; fire(): void; size(): number } {
  const set = new Set<() => void>();
  return {
    add: (l) => (set.add(l), () => void set.delete(l)),
    fire: () => set.forEach((l) => l()),
    size: () => set.size,
  };
}

/** A daemon's live state. */
export function memorySource(p: MemoryProvider): DashboardSource {
  return {
    campaigns: () => Promise.resolve(p.campaigns()),
    state: (c) => Promise.resolve(p.state(c)),
    locks: () => Promise.resolve(p.locks().filter((l) => l.locked)),
    history: (c, run) =>
      Promise.resolve(
        [...(p.state(c)?.states.values() ?? [])].filter((s) => s.run === run).sort((a, b) => a.time - b.time),
      ),
    changed: (l) => p.changed(l),
    close: () => undefined,
  };
}

/**
 * Reads through the store, cached until the data changes: a fingerprint query (the time of the last point of
 * each measurement) runs every `pollMs` while someone listens; when it changes the cache is dropped and
 * listeners are told. The fingerprint the cached data was read under is taken before the first read of a
 * cache, so a listener attaching after a page loaded is told of a change only if one happened since its data
 * was read (a fresh page is not loaded twice).
 */
export function storeSource(
  store: Store,
  opts: { pollMs?: number; onError?: (e: unknown) => void } = {},
): DashboardSource {
  let campaigns: Promise<Campaign[]> | undefined;
  let locks: Promise<LockRecord[]> | undefined;
  const states = new Map<string, Promise<CampaignState>>();
  const ls = listeners();
  /** The fingerprint the cached data was read under (taken before reading it). */
  let last: string | undefined;
  let baseline: Promise<void> | undefined;
  const drop = (): void => {
    campaigns = undefined;
    locks = undefined;
    states.clear();
    baseline = undefined;
  };
  const poll = async (): Promise<void> => {
    if (ls.size() === 0) {
      // nobody is watching: no polling load, and no cache that could go stale unnoticed
      drop();
      return;
    }
    const fp = await changeFingerprint(store);
    if (last !== undefined && fp !== last) {
      drop();
      ls.fire();
    }
    last = fp;
    baseline ??= Promise.resolve();
  };
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    poll()
      .catch((e: unknown) => opts.onError?.(e))
      .finally(() => (busy = false));
  }, opts.pollMs ?? 1000);
  timer.unref();
  /** A read of the store, after the fingerprint its answer will be compared with. */
  const read = <T>(fn: () => Promise<T>): Promise<T> => {
    const b = (baseline ??= changeFingerprint(store).then((fp) => void (last = fp)));
    b.catch(() => (baseline === b ? (baseline = undefined) : undefined));
    return b.then(fn);
  };
  const cached = <T>(p: Promise<T>, clear: () => void): Promise<T> => {
    p.catch(clear);
    return p;
  };
  const campaignList = (): Promise<Campaign[]> =>
    (campaigns ??= cached(
      read(() => store.campaigns()),
      () => (campaigns = undefined),
    ));
  return {
    campaigns: campaignList,
    locks: () =>
      (locks ??= cached(
        read(() => store.locks()).then((l) => l.filter((x) => x.locked)),
        () => (locks = undefined),
      )),
    state: async (c) => {
      if (!(await campaignList()).some((x) => x.name === c)) return undefined;
      let p = states.get(c);
      if (!p) {
        // the current state without the history (the snapshot and what changed since), as `status` reads it
        p = cached(
          read(() => store.campaignState(c)),
          () => states.delete(c),
        );
        states.set(c, p);
      }
      return p;
    },
    history: (c, run) => runHistory(store, c, run),
    loopHealth: () => readLoopHealth(store),
    pruned: (c) => lastPrune(store, c),
    changed: (l) => ls.add(l),
    close: () => clearInterval(timer),
  };
}
