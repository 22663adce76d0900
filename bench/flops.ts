/**
 * Multiply-add FLOPs (2 per MAC) of Conv, ConvTranspose, Gemm and MatMul over a specialised graph
 * (concrete shapes, constants folded): what the effective GFLOP/s column divides by.
 */
import type { SpecializedGraph } from '../src/runtime/specialize.js';

export interface FlopCount { flops: number; convs: number; gemms: number }

export function countFlops(g: SpecializedGraph): FlopCount {
  let flops = 0; let convs = 0; let gemms = 0;
  const prod = (a: readonly number[]) => a.reduce((x, y) => x * y, 1);
  for (const s of g.nodes) {
    const op = s.node.opType;
    const out = s.outShapes[0];
    if (!out) continue;
    if (op === 'Conv') {
      const w = s.inputs[1]?.shape;
      if (!w) continue;
      // out [N, Cout, ...spatial], W [Cout, Cin/group, ...kernel]: each output element costs Cin/group * prod(kernel) MACs.
      flops += 2 * prod(out) * prod(w.slice(1));
      convs++;
    } else if (op === 'Gemm' || op === 'MatMul') {
      const a = s.inputs[0]?.shape;
      if (!a || a.length === 0) continue;
      const transA = op === 'Gemm' && s.node.attrs['transA'] === 1;
      const K = op === 'Gemm' ? (transA ? a[0]! : a[1]!) : a[a.length - 1]!;
      flops += 2 * prod(out) * K;
      gemms++;
    }
  }
  return { flops, convs, gemms };
}
