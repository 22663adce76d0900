import type { DType, HostTensor } from './tensor.js';

/** An attribute value after decoding. Tensors become HostTensors; subgraphs are not supported. */
export type AttrValue = number | string | number[] | string[] | HostTensor;

export interface GraphNode {
  name: string;
  opType: string;
  domain: string;
  /** Input value names; '' marks an omitted optional input. */
  inputs: string[];
  outputs: string[];
  attrs: Record<string, AttrValue>;
  /**
   * The declared ONNX type of every attribute the model file gave this node (validation checks
   * them against the op's schema; `attrs` cannot tell an INT from a FLOAT). Absent on nodes the
   * runtime builds itself.
   */
  attrTypes?: Record<string, 'int' | 'float' | 'string' | 'tensor' | 'ints' | 'floats' | 'strings' | 'other'>;
}

/** A graph input or output. A string dimension is symbolic (usually the batch). */
export interface ValueInfo {
  name: string;
  dtype: DType;
  shape: (number | string)[];
}

/** The model's graph as the runtime sees it: ONNX semantics, decoded, no protobuf types. */
export interface Graph {
  nodes: GraphNode[];
  initializers: Map<string, HostTensor>;
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  /** Opset version of the default ('' / ai.onnx) domain. */
  opset: number;
  /**
   * Names of inputs the model file declares channels-last ([N, H, W, C] with a Transpose to NCHW in
   * front, tf2onnx / Keras style) that the loader presents as [N, C, H, W] (src/runtime/channels-last.ts).
   */
  channelsLastInputs?: string[];
}

export function attrInt(node: GraphNode, key: string, dflt: number): number {
  const v = node.attrs[key];
  return typeof v === 'number' ? v : dflt;
}
export function attrFloat(node: GraphNode, key: string, dflt: number): number {
  const v = node.attrs[key];
  return typeof v === 'number' ? v : dflt;
}
export function attrInts(node: GraphNode, key: string): number[] | undefined {
  const v = node.attrs[key];
  if (Array.isArray(v)) return (v as unknown[]).map(Number);
  if (typeof v === 'number') return [v];
  return undefined;
}
export function attrString(node: GraphNode, key: string, dflt: string): string {
  const v = node.attrs[key];
  return typeof v === 'string' ? v : dflt;
}
