/**
 * Softmax and LogSoftmax. Before opset 13 the input is coerced to 2-D at `axis` (default 1) and the
 * softmax runs over the flattened trailing block; from opset 13 it runs over the single `axis`
 * (default -1). Both are an [outer, len, inner] view of the same kernels.
 */
import type { AdapterTraits, OpDef } from './types.js';
import type { GraphNode } from '../runtime/graph.js';
import { attrInt } from '../runtime/graph.js';
import { GraphError } from '../runtime/errors.js';
import { sizeOf } from '../runtime/tensor.js';
import { grid1d } from './dispatch-size.js';
import { normAxis, pointwiseWorkgroup } from './pointwise.js';
import { softmaxGradWgsl, softmaxRowsWgsl, softmaxStridedWgsl } from '../wgsl/softmax.js';
import { sig } from './schema.js';

/** Signatures per opset (ONNX's Operators.md); the meaning of `axis` changed at 13, not its type. */
const SOFTMAX_SCHEMA: OpSchema = { Softmax: [sig(1, 1, 1, { axis: 'int' })], LogSoftmax: [sig(1, 1, 1, { axis: 'int' })] };
import type { OpSchema } from './types.js';

/** Rows at least this long get a workgroup each; shorter ones an invocation each. */
const ROW_WORKGROUP_MIN_LEN = 256;

/** The [outer, len, inner] view of `shape` for this node's opset semantics. */
export function softmaxView(node: GraphNode, shape: readonly number[]): { outer: number; len: number; inner: number } {
  const opsetV = node.attrs['_opset'];
  const opset = typeof opsetV === 'number' ? opsetV : 13;
  const rank = shape.length;
  if (rank === 0) return { outer: 1, len: 1, inner: 1 };
  if (opset < 13) {
    const axis = normAxis(attrInt(node, 'axis', 1), rank, node.opType);
    return { outer: sizeOf(shape.slice(0, axis)), len: sizeOf(shape.slice(axis)), inner: 1 };
  }
  const axis = normAxis(attrInt(node, 'axis', -1), rank, node.opType);
  return { outer: sizeOf(shape.slice(0, axis)), len: shape[axis]!, inner: sizeOf(shape.slice(axis + 1)) };
}

/**
 * Variant choice (pure): a workgroup per row when rows are contiguous and long enough to keep a
 * workgroup busy, else an invocation per row (short rows, or an axis that is not innermost).
 * Software adapters always take one invocation per row: there the workgroup tree reduction's
 * barriers cost ~0.35 s of compilation at the first run, and a CPU thread walks a 1000-class row
 * in microseconds.
 */
export function softmaxVariant(view: { len: number; inner: number }, traits?: Pick<AdapterTraits, 'isSoftware'>): 'rows' | 'strided' {
  if (traits?.isSoftware) return 'strided';
  return view.inner === 1 && view.len >= ROW_WORKGROUP_MIN_LEN ? 'rows' : 'strided';
}

/**
 * Softmax and LogSoftmax; reads the node's opset from `attrs._opset` (13 when absent). `forced`
 * overrides the variant choice (tests run both kernels on any adapter).
 */
export function softmaxOpWith(forced?: 'rows' | 'strided'): OpDef {
  return {
    opTypes: ['Softmax', 'LogSoftmax'],
    schema: SOFTMAX_SCHEMA,
    inferShapes(node, inputs) {
      const x = inputs[0];
      if (!x) throw new GraphError(`${node.opType} '${node.name}': missing input`);
      softmaxView(node, x.shape);
      return [[...x.shape]];
    },
    build(node, _inputs, outputs, ctx) {
      const view = softmaxView(node, outputs[0]!);
      const log = node.opType === 'LogSoftmax';
      const label = `${node.opType}:${node.name}`;
      const wg = pointwiseWorkgroup(ctx.traits);
      if ((forced ?? softmaxVariant(view, ctx.traits)) === 'rows' && view.inner === 1) {
        // A power of two for the tree reduction; 128 lanes already cover a 1000-class row well.
        const rwg = Math.min(128, 2 ** Math.floor(Math.log2(wg)));
        return {
          dispatches: [{
            label, pipeline: ctx.pipeline(softmaxRowsWgsl(log, rwg)),
            bindings: [{ input: 0 }, { output: 0 }, { uniform: new Uint32Array([view.outer, view.len, 0, 0]).buffer }],
            workgroups: grid1d(view.outer, 1, ctx.traits.maxWorkgroupsPerDimension),
          }],
        };
      }
      const count = view.outer * view.inner;
      const swg = Math.min(wg, 64);
      return {
        dispatches: [{
          label, pipeline: ctx.pipeline(softmaxStridedWgsl(log, swg)),
          bindings: [{ input: 0 }, { output: 0 }, { uniform: new Uint32Array([count, view.len, view.inner, 0]).buffer }],
          workgroups: grid1d(count, swg, ctx.traits.maxWorkgroupsPerDimension),
        }],
      };
    },
    /** From the output alone; one invocation per row (reverse mode runs once per explanation). */
    backward(node, _inputs, outputs, ctx, wants) {
      if (!wants[0]) return { dispatches: [] };
      const view = softmaxView(node, outputs[0]!);
      const count = view.outer * view.inner;
      const swg = Math.min(pointwiseWorkgroup(ctx.traits), 64);
      return {
        dispatches: [{
          label: `${node.opType}Grad:${node.name}`,
          pipeline: ctx.pipeline(softmaxGradWgsl(swg)),
          bindings: [{ output: 0 }, { gradOutput: 0 }, { gradInput: 0 }, { uniform: new Uint32Array([count, view.len, view.inner, node.opType === 'LogSoftmax' ? 1 : 0]).buffer }],
          workgroups: grid1d(count, swg, ctx.traits.maxWorkgroupsPerDimension),
        }],
      };
    },
  };
}

/** Softmax and LogSoftmax with the variant chosen from the shape and adapter. */
export const softmaxOp: OpDef = softmaxOpWith();

/** The softmax family. */
export const softmaxOps: OpDef[] = [softmaxOp];
