import { describe, expect, it } from 'vitest';
import { assignSlots, type SlotRequest } from '../src/runtime/memory.js';

function overlaps(a: SlotRequest, b: SlotRequest): boolean {
  const endA = a.pinned ? Infinity : a.last, endB = b.pinned ? Infinity : b.last;
  return a.first <= endB && b.first <= endA;
}

describe('memory planner', () => {
  it('never gives two live tensors the same slot, and every slot is big enough', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    for (let trial = 0; trial < 50; trial++) {
      const reqs: SlotRequest[] = Array.from({ length: 40 }, () => {
        const first = Math.floor(rnd() * 30);
        return { bytes: 16 * (1 + Math.floor(rnd() * 100)), first, last: first + Math.floor(rnd() * 6), pinned: rnd() < 0.1 };
      });
      const { slotOf, slotBytes } = assignSlots(reqs);
      reqs.forEach((r, i) => expect(slotBytes[slotOf[i]!]!).toBeGreaterThanOrEqual(r.bytes));
      for (let i = 0; i < reqs.length; i++) for (let j = i + 1; j < reqs.length; j++) {
        if (slotOf[i] === slotOf[j]) expect(overlaps(reqs[i]!, reqs[j]!)).toBe(false);
      }
    }
  });

  it('reuses a slot once its tensor is dead (a chain needs two buffers)', () => {
    const chain: SlotRequest[] = Array.from({ length: 10 }, (_, i) => ({ bytes: 1024, first: i, last: i + 1, pinned: false }));
    const { slotBytes } = assignSlots(chain);
    expect(slotBytes.length).toBe(2);
  });
});
