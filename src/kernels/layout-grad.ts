/**
 * Reverse mode for separable linear ops: an op describes its adjoint per input axis (which output
 * gradient terms each input coordinate gathers, with weights) and `adjointDispatch` turns that
 * into one dispatch of the shared gather kernel. Axes that are plain strided maps become uniforms;
 * only genuinely many-to-one axes (broadcast, reflection, interpolation, pooling) need a table.
 */
import type { BindingRef, BuildContext, Dispatch } from './types.js';
import { GraphError } from '../runtime/errors.js';
import { packUniform } from '../runtime/bind.js';
import { grid1d } from './dispatch-size.js';
import { ADJOINT_MAX_AXES, ADJOINT_WG, ADJOINT_WGSL } from '../wgsl/layout-grad.js';

/** One (flat output-gradient offset, weight) term. */
export type AdjointTerm = readonly [offset: number, weight: number];

/** One input axis of an adjoint: `lists[c]` are the terms input coordinate c gathers. */
export interface AdjointAxis {
  /** Stride of this axis in the input (gradient) tensor. */
  inStride: number;
  lists: AdjointTerm[][];
}

/**
 * dL/dx[inBase + sum_k c_k inStride_k] += sum over one term per axis of (product of weights) *
 * dL/dy[outBase + sum of offsets]. Axes are ordered outermost first.
 */
export interface AdjointSpec {
  axes: AdjointAxis[];
  inBase?: number;
  outBase?: number;
}

/** An axis in kernel form: identity (offset c * outStride) when `lists` is absent. */
export type AdjointKernelAxis =
  | { n: number; inStride: number; outStride: number; lists?: undefined }
  | { n: number; inStride: number; outStride: number; lists: AdjointTerm[][] };

/** Terms for an axis whose output coordinate o reads input coordinate src(o) (or nothing), weight 1. */
export function pullAxis(n: number, inStride: number, m: number, outStride: number, src: (o: number) => number | undefined): AdjointAxis {
  const lists: AdjointTerm[][] = Array.from({ length: n }, () => []);
  for (let o = 0; o < m; o++) {
    const c = src(o);
    if (c !== undefined) lists[c]!.push([o * outStride, 1]);
  }
  return { inStride, lists };
}

/**
 * The axes of a spec in kernel form, with input coordinates nothing reads trimmed off, plain
 * strided axes turned into identity axes and neighbouring identity axes merged; undefined when
 * some axis has no terms at all (the gradient contribution is zero).
 */
export function compileAdjoint(spec: AdjointSpec): { axes: AdjointKernelAxis[]; inBase: number; outBase: number } | undefined {
  let inBase = spec.inBase ?? 0, outBase = spec.outBase ?? 0;
  const axes: AdjointKernelAxis[] = [];
  for (const a of spec.axes) {
    const used: number[] = [];
    a.lists.forEach((l, c) => { if (l.length > 0) used.push(c); });
    if (used.length === 0) return undefined;
    const c0 = used[0]!;
    const q = used.length > 1 ? used[1]! - c0 : 1;
    const single = used.every((c, k) => c === c0 + k * q && a.lists[c]!.length === 1 && a.lists[c]![0]![1] === 1);
    const o0 = a.lists[c0]![0]![0];
    const s = used.length > 1 ? a.lists[c0 + q]![0]![0] - o0 : 0;
    if (single && used.every((c, k) => a.lists[c]![0]![0] === o0 + k * s)) {
      inBase += c0 * a.inStride;
      outBase += o0;
      axes.push({ n: used.length, inStride: a.inStride * q, outStride: s });
    } else {
      const c1 = used[used.length - 1]!;
      inBase += c0 * a.inStride;
      axes.push({ n: c1 - c0 + 1, inStride: a.inStride, outStride: 0, lists: a.lists.slice(c0, c1 + 1) });
    }
  }
  // Merge from the innermost axis outwards.
  const merged: AdjointKernelAxis[] = [];
  for (let k = axes.length - 1; k >= 0; k--) {
    const a = axes[k]!;
    if (!a.lists && a.n === 1) continue;
    const b = merged[merged.length - 1];
    if (!a.lists && b && !b.lists && a.inStride === b.n * b.inStride && a.outStride === b.n * b.outStride) {
      merged[merged.length - 1] = { n: a.n * b.n, inStride: b.inStride, outStride: b.outStride };
      continue;
    }
    merged.push(a);
  }
  merged.reverse();
  if (merged.length === 0) merged.push({ n: 1, inStride: 0, outStride: 0 });
  return { axes: merged, inBase, outBase };
}

/**
 * The dispatch adding the adjoint `spec` of `gradOut` into `gradIn`; undefined when the
 * contribution is zero.
 */
export function adjointDispatch(ctx: BuildContext, label: string, spec: AdjointSpec, gradOut: BindingRef, gradIn: BindingRef): Dispatch | undefined {
  const c = compileAdjoint(spec);
  if (!c) return undefined;
  if (c.axes.length > ADJOINT_MAX_AXES) throw new GraphError(`${label}: gradient needs ${c.axes.length} axes, at most ${ADJOINT_MAX_AXES} are supported`);
  const words: number[] = [];
  const bits = new Float32Array(1);
  const bitsU = new Uint32Array(bits.buffer);
  const fields: number[] = [];
  let total = 1;
  // Start words first (their positions depend only on extents), then entries.
  const listAxes = c.axes.filter((a) => a.lists);
  let entry = listAxes.reduce((s, a) => s + a.n + 1, 0);
  let at = 0;
  const starts = new Map<AdjointKernelAxis, number>();
  for (const a of listAxes) {
    starts.set(a, at);
    for (const l of a.lists!) { words[at++] = entry; entry += 2 * l.length; }
    words[at++] = entry;
  }
  for (const a of listAxes) for (const l of a.lists!) for (const [o, w] of l) { bits[0] = w; words[at++] = o; words[at++] = bitsU[0]!; }
  for (const a of c.axes) {
    total *= a.n;
    fields.push(a.n, a.inStride, a.outStride, a.lists ? starts.get(a)! : -1);
  }
  const tab = new Uint32Array(Math.max(4, words.length));
  tab.set(words);
  // constBuffer copies bytes, so the u32 words (and weight bits) arrive unchanged.
  const f = new Float32Array(tab.buffer);
  while (fields.length < 4 * ADJOINT_MAX_AXES) fields.push(0);
  const uniform = packUniform([total, c.axes.length, c.inBase, c.outBase, ...fields]);
  return {
    label,
    pipeline: ctx.pipeline(ADJOINT_WGSL),
    bindings: [gradOut, { buffer: ctx.constBuffer(f, `${label}:adjoint`) }, gradIn, { uniform }],
    workgroups: grid1d(total, ADJOINT_WG, ctx.traits.maxWorkgroupsPerDimension),
  };
}
