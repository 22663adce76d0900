/**
 * The model's cache of built plans (forward and gradient), with leases. Concurrent explanations
 * share one Model: a plan one of them is using must outlive every other call's plan building, and
 * its buffers (input, scores, kept tensors) must not be overwritten by another call between its
 * submissions. So a lease is exclusive: it pins its plan, no other lease or `peek` gets that plan
 * until it is released, and a second call wanting the same shapes meanwhile gets a plan of its
 * own (weights and kernels are shared; only activations are duplicated). A plan is freed only when
 * no lease holds it: when the cache trims idle plans (least recently used first) to its memory
 * budget, or when the cache is closed.
 */

/** What the cache stores: anything holding GPU memory that it can free. */
export interface CachedPlan {
  /** Bytes of GPU memory the plan holds. */
  readonly bytes: number;
  destroy(): void;
}

/** A plan pinned for one user. `release` (idempotent) hands it back; the plan must not be used after. */
export interface PlanLease<P> {
  readonly plan: P;
  release(): void;
}

/** How much the cache keeps of plans no one is using. */
export interface PlanCacheLimits {
  /** Bytes of all cached plans (in use or idle) above which idle plans are freed. */
  bytes: number;
  /** Idle plans kept at most. */
  idle: number;
}

interface Entry { key: string; plan: CachedPlan; users: number }

export class PlanCache {
  /** Insertion order is use order: the first entry is the least recently used. Keys may repeat across entries. */
  private readonly entries = new Set<Entry>();
  private closed = false;
  /** Called once when the cache is closed and the last lease is released. */
  private onEmpty: (() => void) | undefined;

  constructor(private readonly limits: PlanCacheLimits) {}

  /** An exclusive lease on an idle plan cached under `key`, built by `build` when there is none. */
  acquire<P extends CachedPlan>(key: string, build: () => P): PlanLease<P> {
    const e = this.entry(key, build);
    e.users++;
    let held = true;
    return {
      plan: e.plan as P,
      release: () => {
        if (!held) return;
        held = false;
        e.users--;
        if (e.users === 0) this.trim();
      },
    };
  }

  /**
   * An idle plan cached under `key` (built when none is idle), without a lease: valid until the
   * cache next trims, that is until the next plan request or release. For synchronous use (write,
   * encode, submit and copy out at once).
   */
  peek<P extends CachedPlan>(key: string, build: () => P): P {
    const e = this.entry(key, build);
    return e.plan as P;
  }

  private entry(key: string, build: () => CachedPlan): Entry {
    if (this.closed) throw new Error('plan cache closed');
    for (const e of this.entries) {
      if (e.key !== key || e.users > 0) continue;
      this.entries.delete(e);
      this.entries.add(e);
      return e;
    }
    const e: Entry = { key, plan: build(), users: 0 };
    this.entries.add(e);
    // The new plan is idle until leased; trimming now may free older idle plans, never this one.
    this.trim(e);
    return e;
  }

  /** Frees least recently used idle plans while the cache is over its limits (never `spare`). */
  private trim(spare?: Entry): void {
    let bytes = 0, idle = 0;
    for (const e of this.entries.values()) { bytes += e.plan.bytes; if (e.users === 0) idle++; }
    for (const e of this.entries) {
      if (!this.closed && bytes <= this.limits.bytes && idle <= this.limits.idle) break;
      if (e.users > 0 || e === spare) continue;
      this.entries.delete(e);
      e.plan.destroy();
      bytes -= e.plan.bytes;
      idle--;
    }
    if (this.closed && this.entries.size === 0 && this.onEmpty) { const f = this.onEmpty; this.onEmpty = undefined; f(); }
  }

  /** Plans cached, those leased now, and their bytes. */
  get stats(): { plans: number; inUse: number; bytes: number } {
    let inUse = 0, bytes = 0;
    for (const e of this.entries.values()) { bytes += e.plan.bytes; if (e.users > 0) inUse++; }
    return { plans: this.entries.size, inUse, bytes };
  }

  /**
   * Frees every idle plan now and every leased one when its last lease is released; then calls
   * `done` (at once when nothing is leased). No plan can be requested afterwards.
   */
  close(done: () => void): void {
    this.closed = true;
    this.onEmpty = done;
    this.trim();
  }
}
