import { describe, expect, it } from 'vitest';
import { binaryOp, planBinaryGrad } from '../../src/kernels/binary.js';
import { hostTensor, type HostTensor } from '../../src/runtime/tensor.js';
import { makeNode } from '../helpers/run-op.js';
import { numericGradient, runOpBackward } from '../helpers/run-op-backward.js';
import { expectClose, randTensor, ravelBroadcast, rng, unravel } from './pointwise-ref.js';
import { awayFrom, checkGrads, randGrad } from './grad-check.js';

const REF: Record<string, (a: number, b: number) => number> = {
  Add: (a, b) => a + b,
  Sub: (a, b) => a - b,
  Mul: (a, b) => a * b,
  Div: (a, b) => a / b,
  Pow: (a, b) => Math.pow(a, b),
  Max: (a, b) => (a >= b ? a : b),
  Min: (a, b) => (a <= b ? a : b),
  Sum: (a, b) => a + b,
  PRelu: (a, b) => (a < 0 ? a * b : a),
};

function bshape(shapes: readonly (readonly number[])[]): number[] {
  const r = Math.max(...shapes.map((s) => s.length));
  return Array.from({ length: r }, (_, i) => Math.max(...shapes.map((s) => s[s.length - r + i] ?? 1)));
}

/** Float64 numpy-broadcast forward of `op` folded over the operands. */
function forward(op: string, shapes: readonly (readonly number[])[]): (xs: readonly ArrayLike<number>[]) => number[] {
  const out = bshape(shapes);
  const n = out.reduce((a, b) => a * b, 1);
  return (xs) => Array.from({ length: n }, (_, i) => {
    const idx = unravel(i, out);
    return xs.map((x, k) => x[ravelBroadcast(idx, shapes[k]!)]!).reduce((a, b) => REF[op]!(a, b));
  });
}

/** Values on two interleaved grids, so a and b never come within 0.05 of each other (no ties for Max/Min). */
function gridTensor(shape: number[], seed: number, offset: number): HostTensor {
  const r = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return hostTensor('float32', shape, Array.from({ length: n }, () => Math.round((r() * 4 - 2) * 10) / 10 + offset));
}

function operands(op: string, sa: number[], sb: number[], seed: number): [HostTensor, HostTensor] {
  switch (op) {
    case 'Max': case 'Min': return [gridTensor(sa, seed, 0.03), gridTensor(sb, seed + 1, 0.08)];
    case 'Div': return [randTensor(sa, seed), awayFrom(randTensor(sb, seed + 1), [0], 0.5)];
    case 'Pow': return [randTensor(sa, seed, 0.5, 2), randTensor(sb, seed + 1, -2, 2)];
    case 'PRelu': return [awayFrom(randTensor(sa, seed), [0]), randTensor(sb, seed + 1, 0, 0.5)];
    default: return [randTensor(sa, seed), randTensor(sb, seed + 1)];
  }
}

const PAIRS: [number[], number[], string][] = [
  [[2, 3, 4, 5], [2, 3, 4, 5], 'same shape'],
  [[2, 3, 5, 5], [3, 1, 1], 'per-channel [C,1,1], batch 2'],
  [[3, 1, 1], [2, 3, 4, 4], 'per-channel on the left'],
  [[2, 8], [], 'scalar operand'],
  [[], [3, 5], 'scalar on the left'],
  [[3, 4], [4], 'row vector'],
  [[3, 5], [3, 1], 'column vector'],
  [[2, 1, 4], [3, 1], 'both broadcast'],
  [[1, 3, 1, 5], [2, 1, 4, 1], 'rank-4 outer product'],
  [[2, 3, 1, 2, 1, 3], [1, 3, 2, 1, 2, 1], 'rank 6'],
];

describe('binary backward vs finite differences', () => {
  for (const op of ['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min']) {
    it(`${op}, both operands, over broadcast layouts`, async () => {
      let seed = 1;
      for (const [sa, sb, what] of PAIRS) {
        const ins = operands(op, sa, sb, seed += 2);
        try {
          await checkGrads(binaryOp, makeNode(op, {}, 2), ins, [true, true], forward(op, [sa, sb]), { seed });
        } catch (e) { throw new Error(`${what}: ${(e as Error).message}`); }
      }
    });
  }

  it('one operand wanted, the other a constant', async () => {
    const ins = operands('Mul', [2, 3, 4, 4], [3, 1, 1], 5);
    await checkGrads(binaryOp, makeNode('Mul', {}, 2), ins, [true, false], forward('Mul', [[2, 3, 4, 4], [3, 1, 1]]), { constant: [false, true] });
    await checkGrads(binaryOp, makeNode('Sub', {}, 2), ins, [false, true], forward('Sub', [[2, 3, 4, 4], [3, 1, 1]]), { constant: [true, false] });
  });

  it('Pow with a negative base and integral exponents (base gradient)', async () => {
    const a = awayFrom(randTensor([2, 3, 4], 8), [0], 0.1);
    for (const e of [2, 3, -1]) {
      const b = hostTensor('float32', [], [e]);
      await checkGrads(binaryOp, makeNode('Pow', {}, 2), [a, b], [true, false], forward('Pow', [[2, 3, 4], []]), { constant: [false, true] });
    }
  });

  it('PRelu: gradient to X, and to a non-constant slope (per channel and scalar)', async () => {
    for (const [sx, ss] of [[[2, 3, 4, 5], [3, 1, 1]], [[2, 3, 4, 4], [1]], [[2, 3, 5], [3, 5]]] as [number[], number[]][]) {
      const ins = operands('PRelu', sx, ss, 21);
      await checkGrads(binaryOp, makeNode('PRelu', {}, 2), ins, [true, true], forward('PRelu', [sx, ss]));
      await checkGrads(binaryOp, makeNode('PRelu', {}, 2), ins, [true, false], forward('PRelu', [sx, ss]), { constant: [false, true] });
    }
  });

  it('x*x and x+x with the same tensor: the two contributions add up to the full derivative', async () => {
    for (const op of ['Mul', 'Add']) {
      const x = randTensor([2, 3, 4, 5], 31);
      const g = randGrad(x.data.length, 32);
      const node = makeNode(op, {}, 2);
      node.inputs[1] = node.inputs[0]!;
      const [g0, g1] = await runOpBackward(binaryOp, node, [x, x], [g], [true, true]);
      const sum = g0!.map((v, i) => v + g1![i]!);
      const num = numericGradient((d) => Array.from(d, (v) => REF[op]!(v, v)), x.data, g);
      expectClose(sum, num, 1e-3, 1e-3);
    }
  });

  it('variadic Sum with broadcasting, and one-input Sum/Max/Min pass-through', async () => {
    const shapes = [[2, 3, 4], [3, 1], [4]];
    const ins = shapes.map((s, k) => randTensor(s, 40 + k));
    await checkGrads(binaryOp, makeNode('Sum', {}, 3), ins, [true, true, true], forward('Sum', shapes));
    await checkGrads(binaryOp, makeNode('Sum', {}, 3), ins, [false, true, false], forward('Sum', shapes));
    for (const op of ['Sum', 'Max', 'Min']) {
      await checkGrads(binaryOp, makeNode(op, {}, 1), [ins[0]!], [true], forward(op, [shapes[0]!]));
    }
  });

  it('Max/Min ties send the gradient to the first operand', async () => {
    const a = hostTensor('float32', [3], [1, 2, 3]);
    const b = hostTensor('float32', [3], [1, 5, 3]);
    for (const op of ['Max', 'Min']) {
      const [ga, gb] = await runOpBackward(binaryOp, makeNode(op, {}, 2), [a, b], [new Float32Array([1, 1, 1])], [true, true]);
      expect(Array.from(ga!)).toEqual(op === 'Max' ? [1, 0, 1] : [1, 1, 1]);
      expect(Array.from(gb!)).toEqual(op === 'Max' ? [0, 1, 0] : [0, 0, 0]);
    }
  });

  it('variadic Max with three inputs is rejected in reverse mode', () => {
    expect(() => binaryOp.backward!(makeNode('Max', {}, 3), [{ shape: [2] }, { shape: [2] }, { shape: [2] }], [[2]], undefined as never, [true, true, true])).toThrow(/3 inputs/);
  });

  it('planBinaryGrad splits kept and broadcast dims', () => {
    // [C,1,1] operand of [N,C,H,W]: kept C; reduced N and H*W.
    const p = planBinaryGrad(2, false, [3, 1, 1], [2, 3, 4, 5], [2, 3, 4, 5]);
    expect(p.items).toBe(3);
    expect(p.uniform.slice(0, 4)).toEqual([3, 1, 2, 40]);
  });
});
