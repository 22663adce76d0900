/**
 * Random-weight ONNX classifiers with the real topologies of VGG-16, ResNet-50, DenseNet-121,
 * MobileNetV2 and EfficientNet-B0 (torchvision layouts), for comparing our engine with
 * onnxruntime-node. Weights are seeded He-normal with per-activation gains, and BatchNormalization
 * statistics are random but near (0, 1), so activations stay O(1) from input to logits at any
 * depth; a `width` below 1 gives narrow versions for fast tests.
 *
 * Exporter-like details: VGG flattens with PyTorch's Shape->Gather->Unsqueeze->Concat->Reshape
 * chain (Constant nodes included) and has Dropout in its head; DenseNet flattens with a constant
 * Reshape [0, -1]; MobileNetV2 folds BN into conv biases and uses Clip(0, 6) (min/max inputs from
 * opset 11, attributes before); ResNet has an Identity after the pooling; EfficientNet uses
 * Mul(x, Sigmoid(x)) swish, squeeze-excitation and Dropout with a ratio input (opset >= 12).
 */
import { A, type Dim, GraphBuilder, Rng, heWeights, int64s, randNormal, randUniform } from './onnx-writer.js';

export type FlattenStyle = 'Flatten' | 'ShapeChain' | 'ReshapeConst';

export interface ZooOptions {
  /** Channel width multiplier (default 1; 0.125 for a narrow test model). */
  width?: number;
  /** Square input side (default 224). */
  inputSize?: number;
  numClasses?: number;
  seed?: number;
  /** Default 13. Clip uses min/max inputs from 11 and attributes before; Unsqueeze axes input from 13. */
  opset?: number;
  /** Batch dimension of the input/output: default symbolic 'N'. */
  batch?: Dim;
  /** Override the model's flatten style (defaults: VGG ShapeChain, DenseNet ReshapeConst, others Flatten). */
  flatten?: FlattenStyle;
  /** BatchNormalization nodes ('separate') or BN folded into conv biases ('folded'). Defaults per model. */
  bn?: 'separate' | 'folded';
  /** Initializers as raw_data (default) or float_data. */
  rawData?: boolean;
  inputName?: string;
  outputName?: string;
}

export interface ZooModel {
  name: string;
  bytes: Uint8Array;
  inputName: string;
  outputName: string;
  /** [batch, 3, H, W]. */
  inputShape: [Dim, number, number, number];
  numClasses: number;
  opset: number;
  /** Number of weights (initializer elements). */
  paramCount: number;
  nodeCount: number;
}

type Act = 'relu' | 'relu6' | 'swish' | 'none';

/** Variance-preserving gain for a layer whose input went through `act` (inputs ~ N(0, 1) before it). */
const GAIN: Record<Act, number> = {
  relu: Math.SQRT2,
  relu6: Math.SQRT2,
  // E[(x sigmoid(x))^2] for x ~ N(0,1) is about 0.355.
  swish: 1 / Math.sqrt(0.355),
  none: 1,
};

function makeDivisible(v: number, divisor = 8): number {
  const n = Math.max(divisor, Math.floor((v + divisor / 2) / divisor) * divisor);
  return n < 0.9 * v ? n + divisor : n;
}

class Net {
  readonly g: GraphBuilder;
  readonly rng: Rng;
  readonly opset: number;
  readonly width: number;
  readonly size: number;
  readonly numClasses: number;
  readonly batch: Dim;
  readonly raw: boolean;
  readonly inputName: string;
  readonly outputName: string;
  paramCount = 0;

  constructor(readonly name: string, o: ZooOptions, readonly bnStyle: 'separate' | 'folded') {
    this.opset = o.opset ?? 13;
    this.g = new GraphBuilder(name, this.opset);
    this.rng = new Rng(o.seed ?? 0);
    this.width = o.width ?? 1;
    this.size = o.inputSize ?? 224;
    this.numClasses = o.numClasses ?? 1000;
    this.batch = o.batch ?? 'N';
    this.raw = o.rawData ?? true;
    this.inputName = o.inputName ?? 'input';
    this.outputName = o.outputName ?? 'logits';
    if (!(this.width > 0)) throw new Error(`${name}: width must be > 0`);
    if (this.opset < 7) throw new Error(`${name}: opset ${this.opset} < 7 not supported`);
    this.g.input(this.inputName, [this.batch, 3, this.size, this.size]);
  }

  ch(c: number): number { return Math.max(1, Math.round(c * this.width)); }

  param(name: string, shape: number[], data: Float32Array): string {
    this.paramCount += data.length;
    return this.g.initializer(name, shape, data, { raw: this.raw });
  }

  conv(x: string, name: string, cin: number, cout: number, k: number, o: { stride?: number; pad?: number; group?: number; bias?: boolean; biasMean?: number; gain?: number } = {}): string {
    const group = o.group ?? 1;
    const stride = o.stride ?? 1;
    const pad = o.pad ?? Math.floor(k / 2);
    const fanIn = (cin / group) * k * k;
    const w = this.param(`${name}.weight`, [cout, cin / group, k, k], heWeights(this.rng, [cout, cin / group, k, k], fanIn, o.gain ?? Math.SQRT2));
    const inputs = [x, w];
    if (o.bias) inputs.push(this.param(`${name}.bias`, [cout], randNormal(this.rng, cout, 0.05, o.biasMean ?? 0)));
    return this.g.op('Conv', inputs, {
      dilations: [1, 1], group, kernel_shape: [k, k], pads: [pad, pad, pad, pad], strides: [stride, stride],
    });
  }

  /** Inference BatchNormalization with non-trivial statistics that keep the scale about 1. */
  bn(x: string, name: string, c: number, gammaRange: [number, number] = [0.7, 1.3]): string {
    const scale = this.param(`${name}.weight`, [c], randUniform(this.rng, c, gammaRange[0], gammaRange[1]));
    const bias = this.param(`${name}.bias`, [c], randNormal(this.rng, c, 0.1));
    const mean = this.param(`${name}.running_mean`, [c], randNormal(this.rng, c, 0.1));
    const v = randUniform(this.rng, c, 0.6, 1.6);
    const variance = this.param(`${name}.running_var`, [c], v);
    return this.g.op('BatchNormalization', [x, scale, bias, mean, variance], { epsilon: A.float(1e-5), momentum: A.float(0.9) });
  }

  act(x: string, a: Act): string {
    switch (a) {
      case 'none': return x;
      case 'relu': return this.g.op('Relu', [x]);
      case 'relu6': return this.clip(x, 0, 6);
      case 'swish': return this.g.op('Mul', [x, this.g.op('Sigmoid', [x])]);
    }
  }

  clip(x: string, lo: number, hi: number): string {
    if (this.opset >= 11) {
      const min = this.g.initializer('clip_min*', [], new Float32Array([lo]));
      const max = this.g.initializer('clip_max*', [], new Float32Array([hi]));
      return this.g.op('Clip', [x, min, max]);
    }
    return this.g.op('Clip', [x], { min: A.float(lo), max: A.float(hi) });
  }

  /** Conv + BN (separate or folded into the conv bias) + activation. `inAct` picks the weight gain. */
  convBnAct(x: string, name: string, cin: number, cout: number, k: number, act: Act, o: { stride?: number; group?: number; inAct?: Act; gain?: number; gamma?: [number, number] } = {}): string {
    const gain = o.gain ?? GAIN[o.inAct ?? 'relu'];
    let y: string;
    if (this.bnStyle === 'separate') {
      y = this.conv(x, `${name}.conv`, cin, cout, k, { stride: o.stride, group: o.group, gain });
      y = this.bn(y, `${name}.bn`, cout, o.gamma);
    } else {
      const gm = o.gamma ? (o.gamma[0] + o.gamma[1]) / 2 : 1;
      y = this.conv(x, `${name}.conv`, cin, cout, k, { stride: o.stride, group: o.group, gain: gain * gm, bias: true });
    }
    return this.act(y, act);
  }

  maxPool(x: string, k: number, s: number, p: number): string {
    return this.g.op('MaxPool', [x], { kernel_shape: [k, k], pads: [p, p, p, p], strides: [s, s] });
  }

  avgPool(x: string, k: number, s: number): string {
    return this.g.op('AveragePool', [x], { kernel_shape: [k, k], pads: [0, 0, 0, 0], strides: [s, s] });
  }

  gap(x: string): string { return this.g.op('GlobalAveragePool', [x]); }

  flatten(x: string, style: FlattenStyle): string {
    const g = this.g;
    if (style === 'Flatten') return g.op('Flatten', [x], { axis: 1 });
    if (style === 'ReshapeConst') return g.op('Reshape', [x, g.initializer('flatten_shape*', [2], int64s([0, -1]))]);
    // PyTorch's x.view(x.size(0), -1): Shape, Gather(0), Unsqueeze, Concat with -1, Reshape.
    const shape = g.op('Shape', [x]);
    const zero = g.constant({ dims: [], data: int64s([0]) });
    const n = g.op('Gather', [shape, zero], { axis: 0 });
    const minusOne = g.constant({ dims: [], data: int64s([-1]) });
    const un = this.unsqueeze0(n);
    const um = this.unsqueeze0(minusOne);
    const cat = g.op('Concat', [un, um], { axis: 0 });
    return g.op('Reshape', [x, cat]);
  }

  unsqueeze0(x: string): string {
    if (this.opset >= 13) return this.g.op('Unsqueeze', [x, this.g.initializer('unsqueeze_axes*', [1], int64s([0]))]);
    return this.g.op('Unsqueeze', [x], { axes: [0] });
  }

  dropout(x: string, ratio: number): string {
    if (this.opset >= 12) {
      const r = this.g.initializer('dropout_ratio*', [], new Float32Array([ratio]));
      return this.g.op('Dropout', [x, r]);
    }
    return this.g.op('Dropout', [x], { ratio: A.float(ratio) });
  }

  /** Gemm head (PyTorch Linear: transB=1). */
  gemm(x: string, name: string, cin: number, cout: number, gain: number, outName?: string): string {
    const w = this.param(`${name}.weight`, [cout, cin], heWeights(this.rng, [cout, cin], cin, gain));
    const b = this.param(`${name}.bias`, [cout], randNormal(this.rng, cout, 0.05));
    return this.g.node('Gemm', [x, w, b], outName ? [outName] : 1, { alpha: A.float(1), beta: A.float(1), transB: 1 })[0]!;
  }

  finish(last: string): ZooModel {
    if (last !== this.outputName) throw new Error('internal: last node must produce the output name');
    this.g.output(this.outputName, [this.batch, this.numClasses]);
    const bytes = this.g.toBytes({ producerName: 'webgpu-xai model-zoo' });
    return {
      name: this.name, bytes, inputName: this.inputName, outputName: this.outputName,
      inputShape: [this.batch, 3, this.size, this.size], numClasses: this.numClasses, opset: this.opset,
      paramCount: this.paramCount, nodeCount: this.g.nodes.length,
    };
  }
}

function spatialAfter(size: number, k: number, s: number, p: number): number {
  return Math.floor((size + 2 * p - k) / s) + 1;
}

// ---------------------------------------------------------------------------------------------

/**
 * VGG-16 (configuration D): 13 conv3x3+Relu in 5 blocks, each followed by MaxPool 2x2, then
 * flatten (PyTorch Shape chain by default), Gemm-Relu-Dropout, Gemm-Relu-Dropout, Gemm.
 * No adaptive pooling: the first Gemm takes C * (size/32)^2 features. Input size >= 32.
 */
export function buildVGG16(o: ZooOptions = {}): ZooModel {
  const net = new Net('vgg16', o, 'folded');
  if (net.size < 32) throw new Error('vgg16: inputSize must be >= 32');
  const cfg: (number | 'M')[] = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'];
  let x = net.inputName;
  let cin = 3;
  let s = net.size;
  let li = 0;
  let first = true;
  for (const c of cfg) {
    if (c === 'M') {
      x = net.maxPool(x, 2, 2, 0);
      s = spatialAfter(s, 2, 2, 0);
    } else {
      const cout = net.ch(c);
      x = net.conv(x, `features.${li}`, cin, cout, 3, { pad: 1, bias: true, gain: first ? 1 : Math.SQRT2 });
      x = net.act(x, 'relu');
      cin = cout;
      li += 2;
      first = false;
    }
  }
  x = net.flatten(x, o.flatten ?? 'ShapeChain');
  const hidden = net.ch(4096);
  x = net.dropout(net.act(net.gemm(x, 'classifier.0', cin * s * s, hidden, Math.SQRT2), 'relu'), 0.5);
  x = net.dropout(net.act(net.gemm(x, 'classifier.3', hidden, hidden, Math.SQRT2), 'relu'), 0.5);
  x = net.gemm(x, 'classifier.6', hidden, net.numClasses, Math.SQRT2, net.outputName);
  return net.finish(x);
}

/**
 * ResNet-50 (torchvision v1.5: stride on the 3x3 conv): conv7x7/2 BN Relu, MaxPool 3x3/2,
 * bottleneck stages [3, 4, 6, 3] with widths [64, 128, 256, 512] x4, projection shortcuts
 * (conv1x1 + BN), residual Add then Relu, GlobalAveragePool, Identity, Flatten, Gemm.
 */
export function buildResNet50(o: ZooOptions = {}): ZooModel {
  const net = new Net('resnet50', o, o.bn ?? 'separate');
  let x = net.convBnAct(net.inputName, 'stem', 3, net.ch(64), 7, 'relu', { stride: 2, gain: 1 });
  x = net.maxPool(x, 3, 2, 1);
  let cin = net.ch(64);
  const stages = [3, 4, 6, 3];
  const widths = [64, 128, 256, 512];
  for (let si = 0; si < 4; si++) {
    const planes = net.ch(widths[si]!);
    const cout = planes * 4;
    for (let bi = 0; bi < stages[si]!; bi++) {
      const stride = si > 0 && bi === 0 ? 2 : 1;
      const p = `layer${si + 1}.${bi}`;
      let y = net.convBnAct(x, `${p}.1`, cin, planes, 1, 'relu');
      y = net.convBnAct(y, `${p}.2`, planes, planes, 3, 'relu', { stride });
      // Small last-BN scale (like zero-init-residual, but not zero) keeps the residual sum O(1).
      y = net.convBnAct(y, `${p}.3`, planes, cout, 1, 'none', { gamma: [0.2, 0.45] });
      let sc = x;
      if (stride !== 1 || cin !== cout) sc = net.convBnAct(x, `${p}.downsample`, cin, cout, 1, 'none', { stride, inAct: 'relu' });
      x = net.act(net.g.op('Add', [y, sc]), 'relu');
      cin = cout;
    }
  }
  x = net.g.op('Identity', [net.gap(x)]);
  x = net.flatten(x, o.flatten ?? 'Flatten');
  x = net.gemm(x, 'fc', cin, net.numClasses, Math.SQRT2, net.outputName);
  return net.finish(x);
}

/**
 * DenseNet-121: conv7x7/2 BN Relu MaxPool, dense blocks [6, 12, 24, 16] of BN-Relu-Conv1x1(4k)-
 * BN-Relu-Conv3x3(k) (k = 32 x width) where every layer reads the Concat of all earlier features
 * (as torchvision exports it), transitions BN-Relu-Conv1x1(half)-AveragePool 2x2/2, final BN Relu,
 * GlobalAveragePool, Reshape [0, -1], Gemm.
 */
export function buildDenseNet121(o: ZooOptions = {}): ZooModel {
  const net = new Net('densenet121', o, 'separate');
  const growth = net.ch(32);
  const bnSize = 4;
  const init = net.ch(64);
  let x = net.conv(net.inputName, 'features.conv0', 3, init, 7, { stride: 2, pad: 3, gain: 1 });
  x = net.act(net.bn(x, 'features.norm0', init), 'relu');
  x = net.maxPool(x, 3, 2, 1);
  let c = init;
  const blocks = [6, 12, 24, 16];
  for (let bi = 0; bi < blocks.length; bi++) {
    const feats = [x];
    let cc = c;
    for (let li = 0; li < blocks[bi]!; li++) {
      const p = `features.denseblock${bi + 1}.denselayer${li + 1}`;
      const inp = feats.length === 1 ? feats[0]! : net.g.op('Concat', feats, { axis: 1 });
      let y = net.act(net.bn(inp, `${p}.norm1`, cc), 'relu');
      y = net.conv(y, `${p}.conv1`, cc, bnSize * growth, 1);
      y = net.act(net.bn(y, `${p}.norm2`, bnSize * growth), 'relu');
      y = net.conv(y, `${p}.conv2`, bnSize * growth, growth, 3);
      feats.push(y);
      cc += growth;
    }
    x = net.g.op('Concat', feats, { axis: 1 });
    c = cc;
    if (bi < blocks.length - 1) {
      const p = `features.transition${bi + 1}`;
      const half = Math.max(1, Math.floor(c / 2));
      let y = net.act(net.bn(x, `${p}.norm`, c), 'relu');
      y = net.conv(y, `${p}.conv`, c, half, 1);
      x = net.avgPool(y, 2, 2);
      c = half;
    }
  }
  x = net.act(net.bn(x, 'features.norm5', c), 'relu');
  x = net.flatten(net.gap(x), o.flatten ?? 'ReshapeConst');
  x = net.gemm(x, 'classifier', c, net.numClasses, Math.SQRT2, net.outputName);
  return net.finish(x);
}

/**
 * MobileNetV2: conv3x3/2 + Clip(0,6), inverted residuals (expand 1x1 Clip6, depthwise 3x3 Clip6,
 * linear project 1x1, Add when stride 1 and channels match) with the torchvision settings,
 * conv1x1 to 1280 x width + Clip6, GlobalAveragePool, Flatten, Dropout(0.2), Gemm. BN folded into
 * conv biases by default (as a PyTorch export with constant folding gives).
 */
export function buildMobileNetV2(o: ZooOptions = {}): ZooModel {
  const net = new Net('mobilenetv2', o, o.bn ?? 'folded');
  const dv = (c: number) => makeDivisible(c * net.width, 8);
  let cin = dv(32);
  let x = net.convBnAct(net.inputName, 'features.0', 3, cin, 3, 'relu6', { stride: 2, gain: 1 });
  const settings: [number, number, number, number][] = [
    [1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1],
  ];
  let idx = 1;
  for (const [t, c, n, s] of settings) {
    const cout = dv(c);
    for (let i = 0; i < n; i++) {
      const stride = i === 0 ? s : 1;
      const hidden = cin * t;
      const p = `features.${idx++}`;
      let y = x;
      // The block input is a linear (un-activated) bottleneck except right after the stem.
      const inAct: Act = idx === 2 ? 'relu6' : 'none';
      if (t !== 1) y = net.convBnAct(y, `${p}.expand`, cin, hidden, 1, 'relu6', { inAct });
      y = net.convBnAct(y, `${p}.dw`, hidden, hidden, 3, 'relu6', { stride, group: hidden, inAct: t !== 1 ? 'relu6' : inAct });
      y = net.convBnAct(y, `${p}.project`, hidden, cout, 1, 'none', { inAct: 'relu6', gamma: cin === cout && stride === 1 ? [0.3, 0.5] : undefined });
      x = stride === 1 && cin === cout ? net.g.op('Add', [x, y]) : y;
      cin = cout;
    }
  }
  const last = makeDivisible(1280 * net.width, 8);
  x = net.convBnAct(x, `features.${idx}`, cin, last, 1, 'relu6', { inAct: 'none', gain: 2 });
  x = net.flatten(net.gap(x), o.flatten ?? 'Flatten');
  x = net.dropout(x, 0.2);
  x = net.gemm(x, 'classifier.1', last, net.numClasses, Math.SQRT2, net.outputName);
  return net.finish(x);
}

/**
 * EfficientNet-B0: conv3x3/2 BN swish, MBConv stages (expand, kernel, stride, channels, repeats)
 * [1,3,1,16,1] [6,3,2,24,2] [6,5,2,40,2] [6,3,2,80,3] [6,5,1,112,3] [6,5,2,192,4] [6,3,1,320,1],
 * each: expand 1x1 BN swish, depthwise kxk BN swish, squeeze-excitation (GlobalAveragePool,
 * Conv1x1 + bias, swish, Conv1x1 + bias, Sigmoid, Mul broadcast), project 1x1 BN, Add when
 * shapes match; head conv1x1 1280 BN swish, GlobalAveragePool, Flatten, Dropout(0.2), Gemm.
 * Swish is Mul(x, Sigmoid(x)).
 */
export function buildEfficientNetB0(o: ZooOptions = {}): ZooModel {
  const net = new Net('efficientnet_b0', o, o.bn ?? 'separate');
  const dv = (c: number) => makeDivisible(c * net.width, 8);
  let cin = dv(32);
  let x = net.convBnAct(net.inputName, 'features.0', 3, cin, 3, 'swish', { stride: 2, gain: 1 });
  const stages: [number, number, number, number, number][] = [
    [1, 3, 1, 16, 1], [6, 3, 2, 24, 2], [6, 5, 2, 40, 2], [6, 3, 2, 80, 3], [6, 5, 1, 112, 3], [6, 5, 2, 192, 4], [6, 3, 1, 320, 1],
  ];
  for (let si = 0; si < stages.length; si++) {
    const [t, k, s, c, n] = stages[si]!;
    const cout = dv(c);
    for (let i = 0; i < n; i++) {
      const stride = i === 0 ? s : 1;
      const p = `features.${si + 1}.${i}`;
      const hidden = dv(cin * t);
      const inAct: Act = si === 0 ? 'swish' : 'none';
      let y = x;
      if (t !== 1) y = net.convBnAct(y, `${p}.expand`, cin, hidden, 1, 'swish', { inAct });
      y = net.convBnAct(y, `${p}.dw`, hidden, hidden, k, 'swish', { stride, group: hidden, inAct: t !== 1 ? 'swish' : inAct });
      // Squeeze-excitation.
      const sq = Math.max(1, Math.floor(cin / 4));
      let se = net.gap(y);
      se = net.act(net.conv(se, `${p}.se.fc1`, hidden, sq, 1, { bias: true, gain: 1 }), 'swish');
      // fc2's bias near 1.5 puts the gates around sigmoid(1.5) = 0.82, varying a little per channel.
      se = net.g.op('Sigmoid', [net.conv(se, `${p}.se.fc2`, sq, hidden, 1, { bias: true, biasMean: 1.5, gain: GAIN.swish })]);
      y = net.g.op('Mul', [y, se]);
      // Compensate the gates' average in the projection's gain.
      const residual = stride === 1 && cin === cout;
      y = net.convBnAct(y, `${p}.project`, hidden, cout, 1, 'none', { gain: GAIN.swish / 0.82, gamma: residual ? [0.3, 0.5] : undefined });
      x = residual ? net.g.op('Add', [x, y]) : y;
      cin = cout;
    }
  }
  const head = dv(1280);
  x = net.convBnAct(x, 'features.8', cin, head, 1, 'swish', { inAct: 'none', gain: 2 });
  x = net.flatten(net.gap(x), o.flatten ?? 'Flatten');
  x = net.dropout(x, 0.2);
  x = net.gemm(x, 'classifier.1', head, net.numClasses, GAIN.swish, net.outputName);
  return net.finish(x);
}

export const ZOO = {
  vgg16: buildVGG16,
  resnet50: buildResNet50,
  densenet121: buildDenseNet121,
  mobilenetv2: buildMobileNetV2,
  efficientnet_b0: buildEfficientNetB0,
} as const;
export type ZooName = keyof typeof ZOO;
