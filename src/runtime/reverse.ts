/**
 * Reverse mode: the gradient of a class score with respect to any set of tensors, in one backward
 * pass over the unfused graph (so fused kernels never need derivatives; BatchNormalization is
 * differentiated as its own node). The forward values every backward kernel reads stay on the GPU.
 */
import type { SpecializedGraph } from './specialize.js';
import { tensorByteLimit, type GpuContext } from './device.js';
import type { BuildContext } from '../kernels/types.js';
import { ExecutionPlan, type GpuTensor, type PlannedDispatch } from './plan.js';
import { bindProgram } from './bind.js';
import { scoreProgram, type ScoreMode } from '../kernels/score.js';
import { sizeOf } from './tensor.js';
import { BatchTooLargeError, GraphError, InputError } from './errors.js';

/** What a gradient pass computes: the score differentiated and the tensors whose gradients are kept. */
export interface GradientOptions {
  /** Tensors (ONNX value names) whose gradients are wanted; the model input's name gives the input gradient. */
  wrt: readonly string[];
  /** How the class score is computed from the model output (see ScoreMode). */
  mode: ScoreMode;
}

const STORAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** Where the backward pass starts: a tensor of row scores and the score mode applied to it. */
export function seedOf(g: SpecializedGraph, mode: ScoreMode): { tensor: string; mode: ScoreMode } {
  const out = g.outputNames[0]!;
  const softmax = finalSoftmax(g.nodes.map((s) => s.node), out);
  if (softmax) {
    // The model already applies softmax: its output is the probability, so Ψ for 'softmax' is the
    // output itself (no second softmax); logit-based modes start from the Softmax's input.
    if (mode === 'softmax') return { tensor: out, mode: 'logit' };
    return { tensor: softmax.inputs[0]!, mode };
  }
  return { tensor: out, mode };
}

/**
 * The Softmax a model's output `out` comes from: its producer, or the producer behind quantise and
 * dequantise steps, since a quantised model's QLinearSoftmax expands to DequantizeLinear, Softmax,
 * QuantizeLinear (and a float output adds a DequantizeLinear). Undefined when there is none.
 */
export function finalSoftmax<N extends { opType: string; inputs: readonly string[]; outputs: readonly string[] }>(nodes: readonly N[], out: string): N | undefined {
  const producer = new Map<string, N>();
  for (const n of nodes) for (const o of n.outputs) producer.set(o, n);
  let n = producer.get(out);
  for (let hops = 0; n && hops < 8 && (n.opType === 'QuantizeLinear' || n.opType === 'DequantizeLinear' || n.opType === 'Identity'); hops++) n = producer.get(n.inputs[0]!);
  return n?.opType === 'Softmax' ? n : undefined;
}

/** Forward plus backward pass on the GPU: gradients of a class score with respect to chosen tensors. */
export class GradientPlan {
  readonly forward: ExecutionPlan;
  readonly dispatches: PlannedDispatch[] = [];
  /** Ψ_c per batch row, written by every run. */
  readonly scores: GpuTensor;
  /** The class explained per batch row (u32), set with setClasses. */
  private readonly classes: GPUBuffer;
  private readonly grads = new Map<string, GpuTensor>();
  private readonly rootOf = new Map<string, string>();
  private readonly owned: GPUBuffer[] = [];
  readonly seed: { tensor: string; mode: ScoreMode };

  /**
   * Throws BatchTooLargeError, having freed what it made, when a tensor, gradient or scratch
   * buffer would exceed a device limit at this batch; Model.gradients then runs smaller chunks.
   */
  constructor(readonly gpu: GpuContext, readonly graph: SpecializedGraph, build: BuildContext,
    constTensor: (name: string) => GpuTensor, readonly batch: number, opts: GradientOptions) {
    try {
      const { nodes, shapes, constants } = graph;
      for (const w of opts.wrt) if (!shapes.has(w)) throw new InputError(`no tensor named '${w}' in the model`);
      this.seed = seedOf(graph, opts.mode);
      const root = (n: string): string => this.rootOf.get(n) ?? n;
      for (const s of nodes) if (s.op.alias) this.rootOf.set(s.node.outputs[0]!, root(s.node.inputs[0]!));

      // Tensors on a path from a requested tensor to the seed.
      const desc = new Set(opts.wrt);
      for (const s of nodes) if (s.node.inputs.some((n) => n && desc.has(n))) s.node.outputs.forEach((o) => o && desc.add(o));
      const anc = new Set([this.seed.tensor]);
      for (let i = nodes.length - 1; i >= 0; i--) {
        const s = nodes[i]!;
        if (s.node.outputs.some((o) => anc.has(o))) s.node.inputs.forEach((n) => n && !constants.has(n) && anc.add(n));
      }
      const onPath = new Set([...desc].filter((n) => anc.has(n)));
      for (const w of opts.wrt) if (!onPath.has(w)) throw new GraphError(`the score does not depend on '${w}'`);

      const keep = new Set<string>();
      for (const s of nodes) for (const n of [...s.node.inputs, ...s.node.outputs]) if (n && !constants.has(n) && shapes.has(n)) keep.add(n);
      this.forward = new ExecutionPlan(gpu, graph, build, constTensor, batch, keep);

      // Gradients have their tensors' sizes, which the forward plan has checked; scratch has not been.
      const limit = tensorByteLimit(gpu);
      const alloc = (floats: number, label: string): GPUBuffer => {
        if (floats * 4 > limit) throw new BatchTooLargeError(`at batch ${batch}, the ${label} buffer needs ${floats * 4} bytes, over the device's limit of ${limit} bytes`);
        const b = gpu.device.createBuffer({ label, size: Math.max(16, Math.ceil((floats * 4) / 16) * 16), usage: STORAGE() });
        this.owned.push(b);
        return b;
      };
      const gradOf = (name: string): GpuTensor => {
        const r = root(name);
        let t = this.grads.get(r);
        if (!t) {
          const shape = shapes.get(r)!;
          t = { buffer: alloc(sizeOf(shape), `grad:${r}`), offset: 0, size: sizeOf(shape) * 4, shape: [...shape] };
          this.grads.set(r, t);
        }
        return { ...t, shape: [...(shapes.get(name) ?? t.shape)] };
      };
      for (const n of onPath) gradOf(n);

      // The seed: Ψ per row and dΨ/d(seed tensor).
      const seedShape = shapes.get(this.seed.tensor)!;
      const k = sizeOf(seedShape) / batch;
      if (seedShape[0] !== batch || !Number.isInteger(k)) throw new GraphError(`cannot read class scores from output of shape [${seedShape}]`);
      this.classes = alloc(batch, 'classes');
      const scoreBuf = alloc(batch, 'scores');
      this.scores = { buffer: scoreBuf, offset: 0, size: batch * 4, shape: [batch] };
      const seedProg = scoreProgram(build, this.seed.mode, batch, k, true, { z: { input: 0 }, classes: { input: 1 }, score: { output: 0 }, grad: { output: 1 } });
      const seedGrad = gradOf(this.seed.tensor);
      for (const d of bindProgram(gpu.device, seedProg, {
        input: (i) => (i === 0 ? this.forward.tensor(this.seed.tensor) : { buffer: this.classes, offset: 0, size: batch * 4 }),
        output: (i) => (i === 0 ? this.scores : seedGrad),
        scratch: () => { throw new Error('no scratch'); },
      }, this.owned)) this.dispatches.push({ ...d, node: 'score', opType: 'Score' });

      for (let i = nodes.length - 1; i >= 0; i--) {
        const s = nodes[i]!;
        if (s.op.alias || !s.node.outputs.some((o) => o && onPath.has(o))) continue;
        const host = new Set(s.op.hostInputs?.(s.node) ?? []);
        const wants = s.node.inputs.map((n, k2) => !!n && onPath.has(n) && !host.has(k2) && !constants.has(n));
        if (!wants.some((w) => w)) continue;
        if (!s.op.backward) throw new GraphError(`reverse mode: no gradient for ${s.node.opType} (node '${s.node.name}')`);
        const prog = s.op.backward(s.node, s.inputs, s.outShapes, build, wants);
        const bound = bindProgram(gpu.device, prog, {
          input: (k2) => { const n = s.node.inputs[k2]!; return constants.has(n) ? constTensor(n) : this.forward.tensor(n); },
          output: (k2) => this.forward.tensor(s.node.outputs[k2]!),
          scratch: (k2) => { const b = alloc(Math.ceil(prog.scratchBytes![k2]! / 4), 'scratch'); return { buffer: b, offset: 0, size: prog.scratchBytes![k2]! }; },
          // An output off the path (an unused Split part) gets a gradient buffer too: it stays zero.
          gradOutput: (k2) => gradOf(s.node.outputs[k2]!),
          gradInput: (k2) => gradOf(s.node.inputs[k2]!),
        }, this.owned);
        for (const d of bound) this.dispatches.push({ ...d, node: s.node.name, opType: `${s.node.opType}Grad` });
      }
    } catch (e) {
      this.destroy();
      throw e;
    }
  }

  /** Sets the class explained for each batch row. */
  setClasses(classes: readonly number[]): void {
    if (classes.length !== this.batch) throw new InputError(`need ${this.batch} classes, got ${classes.length}`);
    this.gpu.device.queue.writeBuffer(this.classes, 0, new Uint32Array(classes));
  }

  /** Records forward, seed and backward into `encoder`. Inputs must already be in `forward.tensor(input)`. */
  encode(encoder: GPUCommandEncoder): void {
    this.forward.encode(encoder);
    for (const g of this.grads.values()) encoder.clearBuffer(g.buffer);
    const pass = encoder.beginComputePass({ label: 'backward' });
    for (const d of this.dispatches) {
      pass.setPipeline(d.pipeline);
      pass.setBindGroup(0, d.bindGroup);
      pass.dispatchWorkgroups(...d.workgroups);
    }
    pass.end();
  }

  /** The gradient buffer of a tensor on the path (same shape as the tensor). */
  grad(name: string): GpuTensor {
    const r = this.rootOf.get(name) ?? name;
    const t = this.grads.get(r);
    if (!t) throw new GraphError(`no gradient was requested for '${name}'`);
    return { ...t, shape: [...(this.graph.shapes.get(name) ?? t.shape)] };
  }

  /** Bytes of GPU memory the plan holds (its forward plan, gradients, scores, uniforms); weights belong to the model. */
  get bytes(): number {
    return this.forward.bytes + this.owned.reduce((a, b) => a + b.size, 0);
  }

  destroy(): void {
    // Optional: a constructor that threw may not have made the forward plan.
    (this.forward as ExecutionPlan | undefined)?.destroy();
    for (const b of this.owned) b.destroy();
    this.owned.length = 0;
  }
}
