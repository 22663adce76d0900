import { describe, expect, it } from 'vitest';
import type { OpDef } from '../src/kernels/types.js';
import { runOp, makeNode } from './helpers/run-op.js';
import { hostTensor } from '../src/runtime/tensor.js';

const negate: OpDef = {
  opTypes: ['Neg'],
  inferShapes: (_n, ins) => [[...ins[0]!.shape]],
  build: (_n, ins, _o, ctx) => {
    const n = ins[0]!.shape.reduce((a, b) => a * b, 1);
    return { dispatches: [{ label: 'neg', workgroups: [Math.ceil(n / 64), 1, 1], bindings: [{ input: 0 }, { output: 0 }, { uniform: new Uint32Array([n, 0, 0, 0]).buffer }],
      pipeline: ctx.pipeline(`@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> u: vec4<u32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) { if (g.x < u.x) { y[g.x] = -x[g.x]; } }`) }] };
  },
};

describe('runtime plumbing', () => {
  it('runs a declared kernel end to end', async () => {
    const x = hostTensor('float32', [3, 5], Array.from({ length: 15 }, (_, i) => i * 0.5 + 1));
    const [y] = await runOp(negate, makeNode('Neg'), [x]);
    expect(Array.from(y!.data)).toEqual(Array.from(x.data).map((v) => -v));
  });
});
