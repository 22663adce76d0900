/**
 * The benchmark's models: the real SqueezeNet and ShuffleNet from ../shared/models, full-size
 * random-weight ResNet-18 / ResNet-50 graphs, and ResNet-18's int8 QOperator twin. Every runtime gets the same bytes; the shared models
 * declare batch 1, so their batch dimension (and Reshape targets that hard-code it) is made
 * symbolic first, or onnxruntime would reject batch 8 and 32.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { decodeModel, encodeModel, onnx } from '../tools/onnx-writer.js';
import { buildResNet50 } from '../tools/model-zoo.js';
import { buildResNet18 } from './resnet18.js';
import { calibrateWithOrt, quantizeQOperator } from '../tools/qoperator-quantize.js';

export const MODEL_NAMES = ['squeezenet', 'shufflenet', 'resnet18', 'resnet18-int8', 'resnet50'] as const;
export type ModelName = (typeof MODEL_NAMES)[number];

export interface BenchModel {
  name: ModelName;
  /** What the table shows. */
  label: string;
  bytes: Uint8Array;
  inputName: string;
  /** [C, H, W] of one image. */
  chw: [number, number, number];
  weights: 'pretrained' | 'random';
}

/** ../shared/models relative to the repository root, or next to the bundle (bench/out/../../shared). */
export function findModelsDir(explicit?: string): string {
  const candidates = [explicit, process.env.BENCH_MODELS, resolve('../shared/models'), resolve('shared/models'),
    join(dirname(process.argv[1] ?? '.'), '../../../shared/models'), join(dirname(process.argv[1] ?? '.'), '../../shared/models')];
  for (const c of candidates) if (c && existsSync(join(c, 'squeezenet1.1-fp32.onnx'))) return c;
  return explicit ?? resolve('../shared/models');
}

/** Symbolic batch: graph inputs/outputs get dim 0 = 'N', Reshape targets' leading 1 becomes 0 (copy). */
export function makeBatchDynamic(bytes: Uint8Array): Uint8Array {
  const m = decodeModel(bytes);
  const g = m.graph!;
  const inits = new Map((g.initializer ?? []).map((t) => [t.name ?? '', t]));
  const setBatch = (v: { type?: { tensorType?: { shape?: { dim?: unknown[] | null } | null } | null } | null }) => {
    const dims = v.type?.tensorType?.shape?.dim;
    if (dims && dims.length > 0) dims[0] = new onnx.TensorShapeProto.Dimension({ dimParam: 'N' });
  };
  for (const i of g.input ?? []) if (!inits.has(i.name ?? '')) setBatch(i);
  for (const o of g.output ?? []) setBatch(o);
  g.valueInfo = [];
  for (const n of g.node ?? []) {
    if (n.opType !== 'Reshape') continue;
    const t = inits.get(n.input?.[1] ?? '');
    if (!t) continue;
    if (t.int64Data && t.int64Data.length) {
      if (Number(t.int64Data[0]) === 1) (t.int64Data as unknown[])[0] = 0;
    } else if (t.rawData && t.rawData.length >= 8) {
      const raw = new Uint8Array(t.rawData);
      const v = new BigInt64Array(raw.slice().buffer);
      if (v[0] === 1n) { v[0] = 0n; t.rawData = new Uint8Array(v.buffer); }
    }
  }
  return encodeModel(m);
}

function firstInput(bytes: Uint8Array): string {
  const g = decodeModel(bytes).graph!;
  const inits = new Set((g.initializer ?? []).map((t) => t.name));
  return g.input!.find((i) => !inits.has(i.name))!.name!;
}

export async function loadBenchModel(name: ModelName, modelsDir: string): Promise<BenchModel> {
  switch (name) {
    case 'squeezenet': case 'shufflenet': {
      const file = name === 'squeezenet' ? 'squeezenet1.1-fp32.onnx' : 'shufflenet-v2-fp32.onnx';
      const bytes = makeBatchDynamic(new Uint8Array(readFileSync(join(modelsDir, file))));
      return { name, label: name === 'squeezenet' ? 'SqueezeNet 1.1 fp32' : 'ShuffleNet-v2 fp32', bytes, inputName: firstInput(bytes), chw: [3, 224, 224], weights: 'pretrained' };
    }
    case 'resnet18':
      return { name, label: 'ResNet-18 (random weights)', bytes: buildResNet18(), inputName: 'input', chw: [3, 224, 224], weights: 'random' };
    case 'resnet18-int8': {
      // The float ResNet-18 above in the QOperator format (uint8 activations, int8 per-channel
      // weights), calibrated by onnxruntime-node on two seeded batches: its int8 twin.
      const float = buildResNet18();
      const ranges = await calibrateWithOrt(float, [benchInput(2, [3, 224, 224], 3), benchInput(2, [3, 224, 224], 4)], [2, 3, 224, 224]);
      return { name, label: 'ResNet-18 int8 QOperator (random weights)', bytes: quantizeQOperator(float, ranges, 'resnet18-int8'), inputName: 'input', chw: [3, 224, 224], weights: 'random' };
    }
    case 'resnet50': {
      const z = buildResNet50({ seed: 50 });
      return { name, label: 'ResNet-50 (random weights)', bytes: z.bytes, inputName: z.inputName, chw: [3, 224, 224], weights: 'random' };
    }
  }
}

/** The same seeded N(0, 1) images for every runtime (mulberry32 + Box-Muller). */
export function benchInput(batch: number, chw: readonly number[], seed = 7): Float32Array {
  const n = batch * chw.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  let s = seed >>> 0;
  const u = () => {
    let t = (s = (s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return out;
}
