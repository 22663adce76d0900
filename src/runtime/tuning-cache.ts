/**
 * Kernel choices the tuner made, per adapter and geometry key: in memory for every model on a
 * device, and persisted through a {@link TuningStore} (a JSON file in Node, localStorage in the
 * browser) so that a later process on the same adapter starts with them.
 */

/** One geometry's choice. */
export interface TunedChoice {
  /** The winning candidate, as the kernel family's `tune.candidates` listed it (JSON value). */
  variant: unknown;
  /** Its short name (the family's `describe`). */
  label: string;
  /** Its GPU time per run, ms. */
  ms: number;
  /** The static chooser's pick and its time, for reports. */
  staticLabel: string;
  staticMs: number;
  /** Candidates listed, and how many of them were timed (fewer when the budget ran out). */
  candidates: number;
  timed: number;
  /** Every candidate was timed or rejected (only complete choices are persisted). */
  complete: boolean;
  /** Unix ms when it was measured. */
  at: number;
}

/**
 * Where choices persist between processes. `load` returns undefined when nothing was stored for
 * this adapter; both methods may fail (read-only disk, quota): the tuner then keeps its choices in
 * memory only and says so in its report.
 */
export interface TuningStore {
  /** Where the choices live, for messages (a file path, "localStorage"). */
  readonly where: string;
  load(adapterKey: string): Promise<Record<string, TunedChoice> | undefined>;
  /** Stores these entries for the adapter, merged over what is stored already. */
  save(adapterKey: string, entries: Record<string, TunedChoice>, adapterName: string): Promise<void>;
}

/** The shape of a stored file or localStorage value. */
export interface TuningFile {
  format: 1;
  adapters: Record<string, { adapter: string; updated: string; entries: Record<string, TunedChoice> }>;
}

/** Parses a stored value; anything malformed counts as empty rather than failing a model load. */
export function parseTuningFile(text: string | null | undefined): TuningFile {
  const empty: TuningFile = { format: 1, adapters: {} };
  if (!text) return empty;
  try {
    const v = JSON.parse(text) as Partial<TuningFile>;
    if (v?.format !== 1 || typeof v.adapters !== 'object' || v.adapters === null) return empty;
    return v as TuningFile;
  } catch {
    return empty;
  }
}

/** `file` with `entries` merged into the adapter's section (new entries win). */
export function mergeTuningFile(file: TuningFile, adapterKey: string, adapterName: string, entries: Record<string, TunedChoice>): TuningFile {
  const old = file.adapters[adapterKey]?.entries ?? {};
  return {
    format: 1,
    adapters: { ...file.adapters, [adapterKey]: { adapter: adapterName, updated: new Date().toISOString(), entries: { ...old, ...entries } } },
  };
}

/** A store over browser localStorage (or anything with its getItem / setItem). */
export function localStorageTuningStore(storage: { getItem(key: string): string | null; setItem(key: string, value: string): void }, item = 'webgpu-xai.tuning'): TuningStore {
  return {
    where: `localStorage['${item}']`,
    async load(adapterKey) {
      return parseTuningFile(storage.getItem(item)).adapters[adapterKey]?.entries;
    },
    async save(adapterKey, entries, adapterName) {
      storage.setItem(item, JSON.stringify(mergeTuningFile(parseTuningFile(storage.getItem(item)), adapterKey, adapterName, entries)));
    },
  };
}

/** A store that keeps nothing between processes (tests, or `store: null`). */
export function memoryTuningStore(): TuningStore & { file: TuningFile } {
  const s = {
    where: 'memory',
    file: { format: 1, adapters: {} } as TuningFile,
    async load(adapterKey: string) { return s.file.adapters[adapterKey]?.entries; },
    async save(adapterKey: string, entries: Record<string, TunedChoice>, adapterName: string) { s.file = mergeTuningFile(s.file, adapterKey, adapterName, entries); },
  };
  return s;
}

/**
 * The choices for one adapter. `key` strings are the kernel families' geometry keys, prefixed by
 * the precision the candidates were drawn from ("f32|" or "f16|"), so a choice made with f16
 * candidates allowed is never used by a model that did not allow them.
 */
export class TuningCache {
  private readonly entries = new Map<string, TunedChoice>();
  private readonly dirty = new Set<string>();
  private loading?: Promise<void>;
  /** Why the store could not be read or written, if it could not. */
  storeError?: string;

  constructor(readonly adapterKey: string, readonly adapterName: string, readonly store?: TuningStore) {}

  /** Reads the store once (later calls wait for the same read). */
  ready(): Promise<void> {
    this.loading ??= (async () => {
      if (!this.store) return;
      try {
        const stored = await this.store.load(this.adapterKey);
        for (const [k, v] of Object.entries(stored ?? {})) if (isChoice(v) && !this.entries.has(k)) this.entries.set(k, v);
      } catch (e) {
        this.storeError = `could not read ${this.store.where}: ${(e as Error).message}`;
      }
    })();
    return this.loading;
  }

  get(key: string): TunedChoice | undefined { return this.entries.get(key); }

  /** Records a choice; `persist` marks it for the store (complete timings only). */
  set(key: string, choice: TunedChoice, persist: boolean): void {
    this.entries.set(key, choice);
    if (persist) this.dirty.add(key); else this.dirty.delete(key);
  }

  delete(key: string): void { this.entries.delete(key); this.dirty.delete(key); }

  get size(): number { return this.entries.size; }

  /** Writes the choices made since the last flush; a failing store is reported, not thrown. */
  async flush(): Promise<void> {
    if (!this.store || this.dirty.size === 0) return;
    const out: Record<string, TunedChoice> = {};
    for (const k of this.dirty) out[k] = this.entries.get(k)!;
    try {
      await this.store.save(this.adapterKey, out, this.adapterName);
      this.dirty.clear();
    } catch (e) {
      this.storeError = `could not write ${this.store.where}: ${(e as Error).message}`;
    }
  }
}

function isChoice(v: unknown): v is TunedChoice {
  const c = v as TunedChoice;
  return typeof c === 'object' && c !== null && 'variant' in c && typeof c.label === 'string' && typeof c.ms === 'number';
}
