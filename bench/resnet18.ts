/**
 * Full-size ResNet-18 (torchvision layout) with seeded random weights, for the benchmark only:
 * conv7x7/2 BN Relu, MaxPool 3x3/2, basic blocks [2, 2, 2, 2] with widths [64, 128, 256, 512]
 * (stride on the first 3x3 of stages 2-4, conv1x1+BN projection shortcuts), residual Add then Relu,
 * GlobalAveragePool, Flatten, Gemm. BatchNormalization nodes are kept separate, as exporters write them.
 */
import { A, GraphBuilder, Rng, heWeights, randNormal, randUniform } from '../tools/onnx-writer.js';

export function buildResNet18(seed = 18): Uint8Array {
  const g = new GraphBuilder('resnet18', 13);
  const rng = new Rng(seed);
  const param = (name: string, shape: number[], data: Float32Array) => g.initializer(name, shape, data);
  const convBn = (x: string, name: string, cin: number, cout: number, k: number, stride: number, relu: boolean, gain = Math.SQRT2, gamma: [number, number] = [0.7, 1.3]): string => {
    const pad = Math.floor(k / 2);
    const w = param(`${name}.weight`, [cout, cin, k, k], heWeights(rng, [cout, cin, k, k], cin * k * k, gain));
    let y = g.op('Conv', [x, w], { dilations: [1, 1], group: 1, kernel_shape: [k, k], pads: [pad, pad, pad, pad], strides: [stride, stride] });
    const s = param(`${name}.bn.weight`, [cout], randUniform(rng, cout, gamma[0], gamma[1]));
    const b = param(`${name}.bn.bias`, [cout], randNormal(rng, cout, 0.1));
    const m = param(`${name}.bn.running_mean`, [cout], randNormal(rng, cout, 0.1));
    const v = param(`${name}.bn.running_var`, [cout], randUniform(rng, cout, 0.6, 1.6));
    y = g.op('BatchNormalization', [y, s, b, m, v], { epsilon: A.float(1e-5), momentum: A.float(0.9) });
    return relu ? g.op('Relu', [y]) : y;
  };
  g.input('input', ['N', 3, 224, 224]);
  let x = convBn('input', 'conv1', 3, 64, 7, 2, true, 1);
  x = g.op('MaxPool', [x], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [2, 2] });
  let cin = 64;
  [64, 128, 256, 512].forEach((cout, si) => {
    for (let bi = 0; bi < 2; bi++) {
      const stride = si > 0 && bi === 0 ? 2 : 1;
      const p = `layer${si + 1}.${bi}`;
      let y = convBn(x, `${p}.conv1`, cin, cout, 3, stride, true);
      y = convBn(y, `${p}.conv2`, cout, cout, 3, 1, false, Math.SQRT2, [0.3, 0.6]);
      const sc = stride !== 1 || cin !== cout ? convBn(x, `${p}.downsample`, cin, cout, 1, stride, false) : x;
      x = g.op('Relu', [g.op('Add', [y, sc])]);
      cin = cout;
    }
  });
  x = g.op('Flatten', [g.op('GlobalAveragePool', [x])], { axis: 1 });
  const w = param('fc.weight', [1000, 512], heWeights(rng, [1000, 512], 512));
  const b = param('fc.bias', [1000], randNormal(rng, 1000, 0.05));
  g.node('Gemm', [x, w, b], ['logits'], { alpha: A.float(1), beta: A.float(1), transB: 1 });
  g.output('logits', ['N', 1000]);
  return g.toBytes({ producerName: 'webgpu-xai bench' });
}
