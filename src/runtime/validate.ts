/**
 * Load-time model validation: every node against its operator's declared signature (OpDef.schema:
 * input and output counts, attribute names, types and integer ranges for the model's opset),
 * names defined twice, graph dimensions the kernels cannot index, and non-finite weights. Every
 * problem is collected and reported at once, so a user learns them all from one load. The
 * operator side is data (each kernel file declares its schema); this module is the one checker.
 */
import type { Graph, GraphNode } from './graph.js';
import type { AttrSpec, AttrType, OpVersionSchema } from '../kernels/types.js';
import type { OpRegistry } from '../kernels/registry.js';
import { GraphError, ModelFormatError } from './errors.js';
import { I32_MAX, fitsI32 } from './limits.js';
import type { HostTensor } from './tensor.js';

export interface ValidateOptions {
  /** Accept NaN and infinite values in float initializers (refused by default). */
  allowNonFiniteWeights?: boolean;
}

/** How many problems the error message lists before "and N more". */
const LISTED = 12;

/**
 * Throws a GraphError listing every problem found, or a ModelFormatError for the first non-finite
 * weight; returns quietly for a valid graph. Call before `registry.checkSupported` (whose error
 * is the one a graph gets when unsupported operators are its only problem).
 */
export function validateGraph(graph: Graph, registry: OpRegistry, opts: ValidateOptions = {}): void {
  const problems: string[] = [];
  checkNames(graph, problems);
  for (const node of graph.nodes) checkNode(node, graph.opset, registry, problems);
  checkDims(graph, problems);
  // Alone, unsupported operators are the registry's UnsupportedOperatorError; beside other
  // problems they are listed too, so one load names everything.
  const unsupported = graph.nodes.filter((n) => !registry.find(n));
  if (problems.length && unsupported.length) {
    problems.push(...unsupported.map((n) => `node '${n.name}' uses unsupported operator ${n.domain ? `${n.domain}.` : ''}${n.opType}`));
  }
  if (problems.length) {
    const more = problems.length > LISTED ? `; and ${problems.length - LISTED} more` : '';
    throw new GraphError(`invalid model (${problems.length} problem${problems.length > 1 ? 's' : ''}): ${problems.slice(0, LISTED).join('; ')}${more}`);
  }
  if (!opts.allowNonFiniteWeights) checkFinite(graph);
}

/** The signature that applies at this opset: the newest version not after it. */
export function schemaFor(versions: readonly OpVersionSchema[], opset: number): OpVersionSchema | undefined {
  let best: OpVersionSchema | undefined;
  for (const v of versions) if (v.since <= opset && (!best || v.since > best.since)) best = v;
  return best;
}

function checkNames(graph: Graph, problems: string[]): void {
  const defined = new Map<string, string>();
  for (const i of graph.inputs) defined.set(i.name, 'a graph input');
  for (const k of graph.initializers.keys()) if (!defined.has(k)) defined.set(k, 'an initializer');
  for (const n of graph.nodes) {
    for (const o of n.outputs) {
      if (!o) continue;
      const before = defined.get(o);
      if (before) problems.push(`node '${n.name}' (${n.opType}) writes '${o}', which is already ${before}`);
      else defined.set(o, `the output of node '${n.name}'`);
    }
  }
}

function describe(t: AttrType | AttrSpec): AttrSpec {
  return typeof t === 'string' ? { type: t } : t;
}

function checkNode(node: GraphNode, opset: number, registry: OpRegistry, problems: string[]): void {
  const at = `node '${node.name}' (${node.opType})`;
  const given = node.attrTypes ?? {};
  for (const [name, type] of Object.entries(given)) {
    if (!name) problems.push(`${at} has an attribute without a name`);
    else if (name.startsWith('_')) problems.push(`${at} has attribute '${name}': names starting with '_' are reserved`);
    else if (type === 'other') problems.push(`${at} has attribute '${name}' of a kind no operator here reads (graph, sparse tensor or type)`);
  }
  const def = registry.find(node);
  const versions = def?.schema?.[node.opType];
  if (!versions) return; // unsupported ops are reported by checkSupported; schema-less ops get the checks above only
  // Ops of the default domain follow the model's opset. Others (com.microsoft) take their newest
  // signature: onnxruntime does so for a model that does not import the domain, and its
  // com.microsoft ops here have one version only (1).
  const where = node.domain ? node.domain : `opset ${opset}`;
  const schema = schemaFor(versions, node.domain ? Number.MAX_SAFE_INTEGER : opset);
  if (!schema) {
    problems.push(`${at} does not exist at ${where} (from opset ${Math.min(...versions.map((v) => v.since))})`);
    return;
  }
  const [inMin, inMax] = schema.inputs;
  if (node.inputs.length < inMin || node.inputs.length > inMax) {
    problems.push(`${at} has ${node.inputs.length} input${node.inputs.length === 1 ? '' : 's'}, ${where} allows ${range(inMin, inMax)}`);
  } else {
    const empty = node.inputs.findIndex((x, i) => i < inMin && !x && !schema.optional?.includes(i));
    if (empty >= 0) problems.push(`${at} leaves required input ${empty} empty`);
  }
  const [outMin, outMax] = schema.outputs;
  if (node.outputs.length < outMin || node.outputs.length > outMax) {
    problems.push(`${at} has ${node.outputs.length} output${node.outputs.length === 1 ? '' : 's'}, ${where} allows ${range(outMin, outMax)}`);
  } else if (node.outputs.some((x, i) => i < outMin && !x)) {
    problems.push(`${at} leaves a required output unnamed`);
  }
  const allowed = schema.attrs ?? {};
  for (const [name, type] of Object.entries(given)) {
    if (!name || name.startsWith('_') || type === 'other') continue;
    const spec = allowed[name] ? describe(allowed[name]!) : undefined;
    if (!spec) {
      const known = Object.keys(allowed);
      problems.push(`${at} has unknown attribute '${name}' (${where} allows ${known.length ? known.join(', ') : 'none'})`);
      continue;
    }
    if (spec.unsupported) {
      problems.push(`${at} attribute '${name}' (${spec.unsupported}) is not supported by this engine`);
      continue;
    }
    if (spec.type !== type) {
      problems.push(`${at} attribute '${name}' is ${type}, must be ${spec.type}`);
      continue;
    }
    const v = node.attrs[name];
    if (type === 'int' || type === 'ints') {
      const vals = (Array.isArray(v) ? v : [v]) as number[];
      const bad = vals.find((x) => (!spec.int64 && !fitsI32(x)) || (spec.min !== undefined && x < spec.min) || (spec.max !== undefined && x > spec.max));
      if (bad !== undefined) {
        const lo = spec.min ?? (spec.int64 ? undefined : -(2 ** 31));
        const hi = spec.max ?? (spec.int64 ? undefined : I32_MAX);
        problems.push(`${at} attribute '${name}' has value ${bad}, outside ${lo ?? '-inf'}..${hi ?? 'inf'}`);
      }
    } else if (type === 'string' && spec.oneOf && !spec.oneOf.includes(v as string)) {
      problems.push(`${at} attribute '${name}' is '${String(v)}', must be one of ${spec.oneOf.join(', ')}`);
    }
  }
  for (const r of schema.required ?? []) {
    if (!(r in given)) problems.push(`${at} lacks required attribute '${r}'`);
  }
}

function range(lo: number, hi: number): string {
  return lo === hi ? `${lo}` : hi === Infinity ? `${lo} or more` : `${lo} to ${hi}`;
}

function checkDims(graph: Graph, problems: string[]): void {
  for (const v of [...graph.inputs, ...graph.outputs]) {
    const bad = v.shape.find((d) => typeof d === 'number' && d > I32_MAX);
    if (bad !== undefined) problems.push(`graph ${graph.inputs.includes(v) ? 'input' : 'output'} '${v.name}' declares dimension ${bad}, above ${I32_MAX}`);
  }
  for (const [name, t] of graph.initializers) {
    const bad = t.shape.find((d) => d > I32_MAX);
    if (bad !== undefined) problems.push(`initializer '${name}' has dimension ${bad}, above ${I32_MAX}`);
  }
}

/** The float tensors a model carries: initializers and Constant nodes' values. */
function* weights(graph: Graph): Generator<[string, HostTensor]> {
  yield* graph.initializers;
  for (const n of graph.nodes) {
    const v = n.attrs['value'];
    if (n.opType === 'Constant' && v && typeof v === 'object' && !Array.isArray(v)) yield [n.outputs[0] || n.name, v as HostTensor];
  }
}

function checkFinite(graph: Graph): void {
  for (const [name, t] of weights(graph)) {
    if (t.dtype !== 'float32') continue; // every float type is widened to float32 by the decoder
    const d = t.data;
    for (let i = 0; i < d.length; i++) {
      if (!Number.isFinite(d[i]!)) {
        let more = 0;
        for (let j = i + 1; j < d.length; j++) if (!Number.isFinite(d[j]!)) more++;
        throw new ModelFormatError(`weight '${name}' holds ${d[i]} at index ${i}${more ? ` (and ${more} more non-finite values)` : ''}; ` +
          'pass allowNonFiniteWeights to load it anyway');
      }
    }
  }
}
