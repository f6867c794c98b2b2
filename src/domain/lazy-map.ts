/**
 * A Map whose entries may arrive in batches of keys with their values behind a loader (a snapshot chunk, still
 * compressed): a batch is decoded the first time one of its keys is read, so a pass that looks up a few keys
 * decodes only the batches that hold them. has() and size need no decoding. An entry set after its batch
 * arrived stands over the batch's value. Iterating entries or values decodes every batch first, then follows
 * the order in which entries were decoded or set.
 */
interface Batch<K, V> {
  keys: readonly K[];
  load: () => readonly V[];
}

export class LazyMap<K, V> implements Map<K, V> {
  private readonly own = new Map<K, V>();
  /** Key → 1 + index in `batches`, for the keys whose values are still undecoded. */
  private readonly pending = new Map<K, number>();
  private readonly batches: (Batch<K, V> | undefined)[] = [];
  readonly [Symbol.toStringTag] = 'LazyMap';

  /** Adds keys whose values `load` gives (in the same order) when one of them is first read. */
  putLazy(keys: readonly K[], load: () => readonly V[]): void {
    const b = this.batches.length + 1;
    this.batches.push({ keys, load });
    for (const k of keys) {
      this.own.delete(k);
      this.pending.set(k, b);
    }
  }

  get size(): number {
    return this.own.size + this.pending.size;
  }

  get(key: K): V | undefined {
    const b = this.pending.get(key);
    if (b !== undefined) this.decode(b);
    return this.own.get(key);
  }

  has(key: K): boolean {
    return this.pending.has(key) || this.own.has(key);
  }

  set(key: K, value: V): this {
    this.pending.delete(key);
    this.own.set(key, value);
    return this;
  }

  delete(key: K): boolean {
    const was = this.pending.delete(key);
    return this.own.delete(key) || was;
  }

  clear(): void {
    this.own.clear();
    this.pending.clear();
    this.batches.length = 0;
  }

  /** Decodes batch b (1-based): its keys not set or deleted since take their values. */
  private decode(b: number): void {
    const batch = this.batches[b - 1];
    if (!batch) return;
    const values = batch.load();
    if (values.length !== batch.keys.length) throw new Error('a batch decoded to another number of values');
    batch.keys.forEach((k, i) => {
      if (this.pending.get(k) !== b) return;
      this.pending.delete(k);
      this.own.set(k, values[i] as V);
    });
    this.batches[b - 1] = undefined;
  }

  private decodeAll(): void {
    for (let b = 1; b <= this.batches.length; b++) this.decode(b);
  }

  entries(): MapIterator<[K, V]> {
    this.decodeAll();
    return this.own.entries();
  }

  /** The keys, without decoding: the decoded ones first, in insertion order, then the undecoded ones. */
  *keys(): MapIterator<K> {
    yield* this.own.keys();
    yield* this.pending.keys();
  }

  values(): MapIterator<V> {
    this.decodeAll();
    return this.own.values();
  }

  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries();
  }

  forEach(fn: (value: V, key: K, map: Map<K, V>) => void): void {
    for (const [k, v] of this.entries()) fn(v, k, this);
  }
}
