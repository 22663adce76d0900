/**
 * The contract between the runtime and a kernel family. A kernel module declares, for the op types
 * it owns, how output shapes follow from inputs, optionally how to evaluate on the host (constant
 * folding), and how to build its GPU program for concrete shapes. The runtime never special-cases a
 * kernel: it only calls these functions.
 */
import type { GraphNode } from '../runtime/graph.js';
import type { HostTensor } from '../runtime/tensor.js';

/** Facts about the adapter that kernel variant choice depends on (a pure input, testable). */
export interface AdapterTraits {
  /** Software rasteriser (lavapipe, SwiftShader): prefer register blocking over workgroup memory. */
  isSoftware: boolean;
  vendor: string;
  maxWorkgroupInvocations: number;
  maxWorkgroupSizeX: number;
  maxWorkgroupStorageBytes: number;
  maxStorageBuffersPerStage: number;
  maxWorkgroupsPerDimension: number;
  maxStorageBufferBindingSize: number;
  /**
   * Invocations per subgroup when the device enabled `subgroups` and the adapter's subgroups all
   * have this one size (lavapipe: 8, one SIMD register); undefined otherwise.
   */
  fixedSubgroupSize?: number;
  hasF16: boolean;
}

/** One input of a node at build time: its concrete shape, and its value when known on the host. */
export interface TensorArg {
  shape: readonly number[];
  constant?: HostTensor;
}

/** A binding of one dispatch, resolved by the runtime to a buffer range. */
export type BindingRef =
  | { input: number }
  | { output: number }
  /** A buffer the kernel prepared at build time (weights in its own layout, lookup tables). */
  | { buffer: GPUBuffer }
  /** The i-th scratch region the program asked for in `scratchBytes`. */
  | { scratch: number }
  /** Small parameters; the runtime uploads them once into a uniform buffer. */
  | { uniform: ArrayBuffer }
  /** Reverse mode only: the gradient of the loss with respect to the node's i-th output (read). */
  | { gradOutput: number }
  /**
   * Reverse mode only: the gradient with respect to the node's i-th input (read_write). It starts at
   * zero and several consumers add into it, so a backward kernel must ADD its contribution, and each
   * element must be written by exactly one invocation of a dispatch (no float atomics in WGSL).
   */
  | { gradInput: number };

export interface Dispatch {
  label: string;
  pipeline: GPUComputePipeline;
  /** Bindings of @group(0), in @binding order 0..n-1. */
  bindings: BindingRef[];
  workgroups: [number, number, number];
}

export interface KernelProgram {
  dispatches: Dispatch[];
  /** Temporary f32 storage the program needs between its dispatches, in bytes. */
  scratchBytes?: number[];
}

export interface BuildContext {
  device: GPUDevice;
  traits: AdapterTraits;
  /** A compute pipeline for this WGSL, compiled once per distinct source and entry point. */
  pipeline(wgsl: string, entryPoint?: string): GPUComputePipeline;
  /** Uploads host floats as a read-only storage buffer owned by the model. */
  constBuffer(data: Float32Array, label: string): GPUBuffer;
  /**
   * The variant the tuner chose, or is timing, for a geometry key of {@link TuneSpec.key};
   * undefined (or absent) means: use the family's static chooser. Only values from that key's
   * `candidates` list are ever returned.
   */
  variant?(key: string): unknown;
}

/** What a family's candidate list may include besides the fp32 kernels. */
export interface TuneCandidateOptions {
  /** shader-f16 variants may be offered (the adapter has the feature and the user allowed it). */
  f16: boolean;
}

/**
 * A kernel family whose variant for a geometry is chosen by timing candidates on the device
 * (src/runtime/tuner.ts). Candidates are plain JSON values that the family's `build` understands
 * when `ctx.variant(key)` returns them; the runtime compares them only by their JSON text.
 */
export interface TuneSpec {
  /**
   * The geometry key of this node at these shapes: nodes with equal keys share one timing and one
   * choice (so it must capture everything that changes the speed: shapes, strides, epilogue kind),
   * and it must not change between releases unless the meaning of the candidates does.
   * Undefined when the node has nothing to choose.
   */
  key(node: GraphNode, inputs: readonly (TensorArg | undefined)[], outputs: readonly number[][], traits: AdapterTraits): string | undefined;
  /**
   * The variants worth timing for this node on this adapter, the static chooser's pick first.
   * Every one must build and compute the same result (f16 ones to half precision).
   */
  candidates(node: GraphNode, inputs: readonly (TensorArg | undefined)[], outputs: readonly number[][], traits: AdapterTraits, opts: TuneCandidateOptions): unknown[];
  /** A short human-readable name of a candidate, for reports ("tiled 32x32 split-K 4"). */
  describe(variant: unknown): string;
}

/** An ONNX attribute type, as the model file declares it ('other': graphs, sparse tensors, type protos). */
export type AttrType = 'int' | 'float' | 'string' | 'tensor' | 'ints' | 'floats' | 'strings' | 'other';

/**
 * One allowed attribute. Integer values must fit an i32 (what the kernels' uniforms hold) unless
 * `int64` is set: then the op clamps them itself (Slice ends of INT64_MAX mean "to the end").
 * `min`/`max` bound every integer value further (dilations >= 1, pads >= 0).
 */
export interface AttrSpec {
  type: AttrType;
  min?: number;
  max?: number;
  int64?: boolean;
  /** The allowed strings of a 'string' attribute (auto_pad, mode). */
  oneOf?: readonly string[];
  /** ONNX allows the attribute but this engine does not implement it: the reason, for the error. */
  unsupported?: string;
}

/**
 * An operator's signature from one opset version on (ONNX's OpSchema, reduced to what load-time
 * validation checks). Omitted optional inputs are written as '' and still count.
 */
export interface OpVersionSchema {
  /** First opset of the op's domain this signature applies to. */
  since: number;
  /** Allowed input count [min, max] (Infinity: variadic). The first `min` must be non-empty, except `optional`. */
  inputs: readonly [number, number];
  /**
   * Optional inputs before the last required one, which may be written as '' (com.microsoft
   * QLinearAdd's zero points sit between required scales and operands).
   */
  optional?: readonly number[];
  /** Allowed output count [min, max]. */
  outputs: readonly [number, number];
  /** Every attribute this version accepts (any other is refused, as onnxruntime does). */
  attrs?: Readonly<Record<string, AttrType | AttrSpec>>;
  /** Attributes that must be present. */
  required?: readonly string[];
}

/** Versioned signatures per op type (each list in any order; the newest `since` <= the model's opset applies). */
export type OpSchema = Readonly<Record<string, readonly OpVersionSchema[]>>;

export interface OpDef {
  /** ONNX op types this definition serves (default domain unless `domain` is set). */
  opTypes: readonly string[];
  /**
   * Signatures per op type, checked once at load by src/runtime/validate.ts (arity, attribute
   * names, types and integer ranges). A node without one would get only the generic checks;
   * test/validate.test.ts requires one for every registered op type.
   */
  schema?: OpSchema;
  domain?: string;
  /** Output shapes from input shapes (and host values of constant inputs). Throws on invalid input. */
  inferShapes(node: GraphNode, inputs: readonly (TensorArg | undefined)[]): number[][];
  /**
   * Host evaluation for constant folding; returns undefined when an input it needs is not known on
   * the host. Integer shape arithmetic must be foldable: the GPU only sees float32.
   */
  evalHost?(node: GraphNode, inputs: readonly (TensorArg | undefined)[]): HostTensor[] | undefined;
  /** When set, output 0 is input 0's buffer reinterpreted (Reshape, Flatten...): no dispatch. */
  alias?: boolean;
  /** Inputs consumed only at build time (weights, shapes); they are never bound as GPU tensors. */
  hostInputs?(node: GraphNode): readonly number[];
  /**
   * Reverse mode: dispatches that add dLoss/dInput_i into `{ gradInput: i }` for every i with
   * `wants[i]`, reading `{ gradOutput: k }` and the forward values (`{ input: i }`, `{ output: k }`,
   * kept alive by the runtime). Only input gradients: weights are never differentiated. Reverse
   * mode runs on the unfused graph, so fused attributes never reach a backward builder (BatchNorm
   * is differentiated as its own node). Alias ops need no backward: they share gradient storage.
   */
  backward?(node: GraphNode, inputs: readonly (TensorArg | undefined)[], outputs: readonly number[][], ctx: BuildContext, wants: readonly boolean[]): KernelProgram;
  /** The GPU program for concrete shapes. Not called for alias ops. */
  build?(node: GraphNode, inputs: readonly (TensorArg | undefined)[], outputs: readonly number[][], ctx: BuildContext): KernelProgram;
  /** Present when the family has several kernel variants worth timing on the device. */
  tune?: TuneSpec;
  /**
   * When set, the op is a composition of other ops rather than a kernel: at load the runtime
   * replaces each of its nodes by these nodes (src/runtime/expand.ts), so specialisation, fusion and
   * reverse mode only ever see the parts. The last node writes the op's outputs under their names.
   * QOperator ops use it to become dequantize, float op, quantize.
   */
  expand?(node: GraphNode): GraphNode[];
}
