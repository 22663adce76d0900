/**
 * The float models behind the quantised fixtures in test/fixtures/quant (tools/quant-fixtures.py
 * quantises them with onnxruntime's quantiser). Deterministic, so a test rebuilds the float twin
 * of a committed int8 model instead of reading a second file.
 */
import { A, GraphBuilder, Rng, heWeights, randNormal } from './onnx-writer.js';
import { buildEfficientNetB0, buildMobileNetV2, buildResNet50, type ZooOptions } from './model-zoo.js';

/** Input side and class count of every fixture model. */
export const QUANT_INPUT = 64;
export const QUANT_CLASSES = 20;

const zoo: ZooOptions = { width: 0.0625, inputSize: QUANT_INPUT, numClasses: QUANT_CLASSES, seed: 21, bn: 'folded', batch: 'N' };

/**
 * The ops the zoo shapes leave out: Concat of two branches, AveragePool, LeakyRelu, a MatMul
 * head and a final Softmax.
 */
function buildMisc(): Uint8Array {
  const rng = new Rng(7);
  const g = new GraphBuilder('qmisc', 13);
  g.input('input', ['N', 3, QUANT_INPUT, QUANT_INPUT]);
  const conv = (x: string, cin: number, cout: number, k: number, stride: number, name: string): string => {
    const w = g.initializer(`${name}.w`, [cout, cin, k, k], heWeights(rng, [cout, cin, k, k], cin * k * k));
    const b = g.initializer(`${name}.b`, [cout], randNormal(rng, cout, 0.1));
    return g.op('Conv', [x, w, b], { kernel_shape: [k, k], strides: [stride, stride], pads: [k >> 1, k >> 1, k >> 1, k >> 1] });
  };
  const stem = g.op('Relu', [conv('input', 3, 8, 3, 2, 'stem')]);
  const a = g.op('LeakyRelu', [conv(stem, 8, 8, 3, 1, 'a')], { alpha: 0.1 });
  const b = g.op('Relu', [conv(stem, 8, 8, 1, 1, 'b')]);
  const cat = g.op('Concat', [a, b], { axis: 1 });
  const pool = g.op('AveragePool', [cat], { kernel_shape: [2, 2], strides: [2, 2] });
  const c = g.op('Relu', [conv(pool, 16, 16, 3, 2, 'c')]);
  const gap = g.op('GlobalAveragePool', [c]);
  const flat = g.op('Flatten', [gap], { axis: 1 });
  const w = g.initializer('head.w', [16, QUANT_CLASSES], heWeights(rng, [16, QUANT_CLASSES], 16));
  const hb = g.initializer('head.b', [QUANT_CLASSES], randNormal(rng, QUANT_CLASSES, 0.1));
  const logits = g.op('Add', [g.op('MatMul', [flat, w]), hb]);
  g.node('Softmax', [logits], ['probs'], { axis: A.int(1) });
  g.output('probs', ['N', QUANT_CLASSES]);
  return g.toBytes();
}

/** Float model bytes by fixture stem. */
export function quantFloatModels(): Record<string, Uint8Array> {
  return {
    resnet: buildResNet50(zoo).bytes,
    mobilenetv2: buildMobileNetV2(zoo).bytes,
    efficientnet: buildEfficientNetB0(zoo).bytes,
    misc: buildMisc(),
  };
}
