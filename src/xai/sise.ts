/**
 * SISE (Sudhakar et al., AAAI 2021; methods spec 1) and Ada-SISE (spec 2) on one GPU-resident
 * pipeline. Phase 1: block outputs (blocks.ts) and one forward + backward pass. Phase 2: per-channel
 * gradient scores α (spatial mean of ∂Ψ/∂A) and selection (SISE: α > μ·max α; Ada-SISE: Otsu on
 * α/max α). Phase 3: per batch, masks are made on the GPU from the feature maps, the masked inputs
 * written straight into the model's input, the forward plan run, Ψ read on the GPU and
 * accumulated into the layer's map. Phase 4: cascaded fusion with Otsu gates. Only α, the channel
 * ranges and the final maps are read back.
 */
import type { Model } from '../runtime/model.js';
import type { GpuTensor } from '../runtime/plan.js';
import { channelStatsProgram } from '../kernels/cam.js';
import { saliencyMasksProgram, upsampledRangeProgram, constantChannels } from '../kernels/saliency-masks.js';
import { maskedInputProgram } from '../kernels/masked-input.js';
import { scoreAccumulateProgram } from '../kernels/score-accumulate.js';
import type { ScoreMode } from '../kernels/score.js';
import { cascadeFusionProgram, minMaxNormaliseProgram, type FusionOptions } from '../kernels/map-ops.js';
import { InputError } from '../runtime/errors.js';
import { detectBlocks, type BlockLayer } from './blocks.js';
import { otsuQuantise, otsuThresholdHost } from './otsu.js';
import { fuseBlockMaps, type OutsideRanking } from './sise-fusion.js';
import { ExplainSession, type CommonOptions } from './session.js';
import type { Explanation, LayerMap } from './explanation.js';

/** SISE and Ada-SISE options: layers probed, μ, mask batch. */
export interface SiseOptions extends CommonOptions {
  /** Layers to probe (tensor names), shallow to deep; default: detected block outputs (spec 1.2). */
  layers?: readonly string[];
  /** SISE's gradient threshold ratio μ (spec 1.3, default 0): keep channels with α > μ·max α. */
  mu?: number;
  /**
   * Masking space [P] (spec 0.3): 'normalized' (default) multiplies the preprocessed tensor, so the
   * baseline is 0 there (the dataset mean colour); 'pixel' uses `baseline` as given per channel.
   */
  baseline?: readonly number[] | Float32Array;
  /** Divide each mask by its mass before weighting (SISE eq. 12; default true). Ada-SISE may turn it off (spec 2.2 [P]). */
  massNormalise?: boolean;
  /** Fusion gate (spec 1.2 phase 4 [P]): 'hard' Otsu mask (default) or 'soft' sigmoid gate. */
  gate?: FusionOptions['gate'];
  /**
   * How the pixels outside the deepest block's Otsu gate (exactly 0 in the paper's fusion) are
   * ranked: 'zero' (the paper) or 'deepest' (below every gated pixel, in the order of the deepest
   * block's un-gated map; src/xai/sise-fusion.ts). Default: DEFAULT_OUTSIDE, chosen by the SISE
   * study (docs/sise-study.md). The method 'sise-paper' is SISE with 'zero' and the hard gate.
   */
  outside?: OutsideRanking;
}

/** SISE's and Ada-SISE's default ranking of the gated-zero region (docs/sise-study.md). */
export const DEFAULT_OUTSIDE: OutsideRanking = 'deepest';

/** Channel selection rule: SISE's fixed ratio or Ada-SISE's per-layer Otsu cut. */
export type Selection = { kind: 'threshold'; mu: number } | { kind: 'otsu' };

/** Channels kept from gradient scores α (constant maps already excluded by `usable`). */
export function selectChannels(alpha: ArrayLike<number>, usable: readonly boolean[], rule: Selection): number[] {
  let beta = -Infinity;
  for (let k = 0; k < alpha.length; k++) if (usable[k]) beta = Math.max(beta, alpha[k]!);
  if (!(beta > 0)) return [];
  if (rule.kind === 'threshold') {
    const out: number[] = [];
    for (let k = 0; k < alpha.length; k++) if (usable[k] && alpha[k]! > rule.mu * beta) out.push(k);
    return out;
  }
  // Ada-SISE (spec 2.2): Otsu over the normalised positive scores, keep those strictly above τ/255.
  const pos: number[] = [];
  for (let k = 0; k < alpha.length; k++) if (usable[k] && alpha[k]! > 0) pos.push(k);
  const a = pos.map((k) => alpha[k]! / beta);
  const t = otsuThresholdHost(a);
  return pos.filter((_, i) => otsuQuantise(a[i]!) > t);
}

/** SISE with default options; see {@link SiseOptions}. */
export function sise(model: Model, image: Float32Array, opts: SiseOptions = {}): Promise<Explanation> {
  return siseFamily(model, image, opts, { kind: 'threshold', mu: opts.mu ?? 0 }, 'sise');
}

/**
 * SISE exactly as the paper describes it (spec 1.2): hard Otsu gates, pixels outside the deepest
 * gate left at 0, whatever DEFAULT_OUTSIDE is. `outside` and `gate` given explicitly still apply.
 */
export function sisePaper(model: Model, image: Float32Array, opts: SiseOptions = {}): Promise<Explanation> {
  return siseFamily(model, image, { ...opts, gate: opts.gate ?? 'hard', outside: opts.outside ?? 'zero' }, { kind: 'threshold', mu: opts.mu ?? 0 }, 'sise-paper');
}

/** Ada-SISE: SISE with the per-layer adaptive (Otsu) channel selection of spec 2. */
export function adaSise(model: Model, image: Float32Array, opts: SiseOptions = {}): Promise<Explanation> {
  return siseFamily(model, image, opts, { kind: 'otsu' }, 'ada-sise');
}

async function siseFamily(model: Model, image: Float32Array, opts: SiseOptions, rule: Selection, method: string): Promise<Explanation> {
  const s = new ExplainSession(model, image, opts);
  try {
    const mode: ScoreMode = opts.scoreMode ?? 'softmax';
    const outside = opts.outside ?? DEFAULT_OUTSIDE;
    if (outside !== 'zero' && outside !== 'deepest') throw new InputError(`outside must be 'zero' or 'deepest', got ${String(outside)}`);
    const requested = opts.batchSize ?? 32;
    if (!Number.isInteger(requested) || requested < 1) throw new InputError(`batchSize must be a positive integer, got ${requested}`);
    const batch = s.batchFor(requested);
    if (rule.kind === 'threshold' && !(rule.mu >= 0 && rule.mu <= 1)) throw new InputError(`mu must be in [0, 1], got ${rule.mu}`);
    const { classIndex, score } = await s.classify(mode);
    const layers: BlockLayer[] = detectBlocks(model, { layers: opts.layers });
    s.phase('classify');

    // Phase 1-2: one forward + backward to every layer; α and channel ranges on the GPU.
    const grad = s.gradientPass(1, layers.map((l) => l.name), mode);
    const cmd = s.command().copy(s.image, grad.input);
    grad.record(cmd, [classIndex]);
    cmd.submitNow();
    s.forwardPasses++; s.backwardPasses++;
    const selected: { layer: BlockLayer; A: GpuTensor; idx: number[]; range: GpuTensor }[] = [];
    for (const layer of layers) {
      const [, C, h, w] = layer.shape as [number, number, number, number];
      const A = grad.tensor(layer.name);
      const stats = s.compute.alloc([C, 4], 'alpha');
      const range = s.compute.alloc([C, 4], 'range');
      s.compute.run(channelStatsProgram(s.compute.ctx, C, h * w), { inputs: [grad.grad(layer.name)], outputs: [stats] });
      s.compute.run(upsampledRangeProgram(s.compute.ctx, { channels: C, h, w, outH: s.height, outW: s.width }), { inputs: [A], outputs: [range] });
      const st = await s.compute.read(stats);
      const usable = constantChannels(await s.compute.read(range)).map((c) => !c);
      const alpha = Float32Array.from({ length: C }, (_, k) => st[4 * k]!);
      s.compute.release(stats);
      selected.push({ layer, A, idx: selectChannels(alpha, usable, rule), range });
    }
    s.phase('gradients');

    // Phase 3: batched masked forward passes, everything stays on the GPU.
    const B = layers.length;
    const P = s.pixels;
    const maps = s.compute.alloc([B, s.height, s.width], 'layer-maps');
    s.compute.fill(maps, 0);
    const pass = await s.scoringPass({ batch, mode, perRow: classIndex });
    const masks = s.compute.alloc([batch, s.height, s.width], 'masks');
    const base = s.compute.upload(baselineOf(opts.baseline, s.channels), [s.channels], 'baseline');
    const total = selected.reduce((t, l) => t + l.idx.length, 0);
    let done = 0;
    const layerMaps: LayerMap[] = [];
    for (let l = 0; l < B; l++) {
      const { layer, A, idx, range } = selected[l]!;
      const [, C, h, w] = layer.shape as [number, number, number, number];
      if (idx.length === 0) continue;
      const idxT = s.compute.upload(Uint32Array.from(idx), [idx.length], 'channels');
      for (let start = 0; start < idx.length; start += batch) {
        const n = Math.min(batch, idx.length - start);
        await pass.step(n, (cmd) => {
          cmd.run(saliencyMasksProgram(s.compute.ctx, { channels: C, h, w, outH: s.height, outW: s.width }, start, n), { inputs: [A, idxT, range], outputs: [masks] });
          cmd.run(maskedInputProgram(s.compute.ctx, { n, channels: s.channels, pixels: P, baseline: 'channel' }), { inputs: [s.image, masks, base], outputs: [pass.input] });
        }, (cmd) => {
          cmd.run(scoreAccumulateProgram(s.compute.ctx, { n, pixels: P, massNormalise: opts.massNormalise !== false, accOffset: l * P }), { inputs: [pass.scores, masks], outputs: [maps] });
        });
        s.forwardPasses += n;
        done += n;
        s.progress('masked forward passes', done, total);
      }
      s.compute.release(idxT);
      layerMaps.push({ layer: layer.name, masks: idx.length, map: { width: s.width, height: s.height, data: new Float32Array(0) } });
    }
    await s.compute.drain();
    s.phase('masked passes');

    // Phase 4: cascaded fusion over the layers that produced a map, then [P] min-max for display.
    const used = selected.map((x, i) => (x.idx.length ? i : -1)).filter((i) => i >= 0);
    const fusedMap = s.compute.alloc([s.height, s.width], 'fused');
    const info = s.compute.alloc([Math.max(1, used.length), 4], 'fusion-info');
    if (used.length > 0) {
      // Compact the used layers' maps (in order) so the fusion sees B' consecutive maps.
      const stack = used.length === B ? maps : s.compute.alloc([used.length, s.height, s.width], 'used-maps');
      if (stack !== maps) {
        const cmd = s.command();
        used.forEach((l, j) => cmd.copy(maps, stack, { from: l * P, to: j * P, count: P }));
        cmd.submitNow();
      }
      s.compute.run(cascadeFusionProgram(s.compute.ctx, used.length, P, { gate: opts.gate }), { inputs: [stack], outputs: [fusedMap, info] });
      s.compute.run(minMaxNormaliseProgram(s.compute.ctx, 1, P), { inputs: [], outputs: [fusedMap] });
      s.compute.run(minMaxNormaliseProgram(s.compute.ctx, used.length, P), { inputs: [], outputs: [stack] });
      const all = await s.compute.read(stack);
      used.forEach((_, j) => { layerMaps[j]!.map.data = all.slice(j * P, (j + 1) * P); });
    } else {
      s.compute.fill(fusedMap, 0);
    }
    const map = await s.readMap(fusedMap);
    // Ranking the gated-zero region needs the block maps, which are on the host already.
    if (outside !== 'zero' && used.length > 1) map.data = Float32Array.from(fuseBlockMaps(layerMaps.map((l) => l.map.data), { gate: opts.gate, outside }));
    s.phase('fusion');
    return {
      method, classIndex, score, scoreMode: mode, map, layers: layerMaps,
      forwardPasses: s.forwardPasses, backwardPasses: s.backwardPasses, timings: s.timings,
      params: { layers: layers.map((l) => l.name), selection: rule, batchSize: batch, massNormalise: opts.massNormalise !== false, gate: opts.gate ?? 'hard', outside, masks: total },
    };
  } finally {
    s.destroy();
  }
}

function baselineOf(b: readonly number[] | Float32Array | undefined, channels: number): Float32Array {
  if (b === undefined) return new Float32Array(channels);
  if (b.length !== channels) throw new InputError(`baseline needs ${channels} values (one per channel), got ${b.length}`);
  return Float32Array.from(b);
}
