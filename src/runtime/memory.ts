/**
 * Buffer reuse by tensor lifetime. Each slot is its own GPUBuffer (never an offset into one arena),
 * so no single binding can exceed the device's storage-binding limit because of its neighbours.
 */
export interface SlotRequest { bytes: number; first: number; last: number; pinned: boolean }

/**
 * Assigns slots to tensors that live over [first, last] (node indices, inclusive). A tensor's slot is
 * free again after `last`. Best-fit reuse within a factor of two keeps fragmentation low.
 * Returns the slot index of each request and the size of each slot.
 */
export function assignSlots(reqs: readonly SlotRequest[]): { slotOf: number[]; slotBytes: number[] } {
  const order = reqs.map((_, i) => i).sort((a, b) => reqs[a]!.first - reqs[b]!.first || a - b);
  const slotBytes: number[] = [];
  const slotOf = new Array<number>(reqs.length).fill(-1);
  const free: number[] = [];
  const releaseAt = new Map<number, number[]>();
  let cursor = -1;
  const releaseUpTo = (t: number) => {
    for (let k = cursor + 1; k <= t; k++) {
      for (const s of releaseAt.get(k) ?? []) free.push(s);
      releaseAt.delete(k);
    }
    cursor = Math.max(cursor, t);
  };
  for (const i of order) {
    const r = reqs[i]!;
    // A tensor defined at node t may reuse slots whose last reader ran before t.
    releaseUpTo(r.first - 1);
    let best = -1;
    for (let k = 0; k < free.length; k++) {
      const s = free[k]!;
      const b = slotBytes[s]!;
      if (b >= r.bytes && b <= 2 * r.bytes + 256 && (best < 0 || b < slotBytes[free[best]!]!)) best = k;
    }
    let slot: number;
    if (best >= 0) { slot = free[best]!; free.splice(best, 1); }
    else { slot = slotBytes.length; slotBytes.push(r.bytes); }
    slotOf[i] = slot;
    if (!r.pinned) {
      const l = releaseAt.get(r.last) ?? [];
      l.push(slot);
      releaseAt.set(r.last, l);
    }
  }
  return { slotOf, slotBytes };
}
