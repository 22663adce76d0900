/**
 * The small models the fuzz test and `npm run fuzz` mutate: four architectures at 16x16 (DenseNet, which pools 32x, at 32x32) with 4
 * classes, covering Conv (grouped, depthwise, with bias), BatchNormalization, Relu, Clip, Sigmoid,
 * Mul, Add, Concat, the pools, Reshape, Flatten, Dropout, Identity and Gemm.
 */
import { buildDenseNet121, buildEfficientNetB0, buildMobileNetV2, buildResNet50 } from '../../tools/model-zoo.js';

export function FUZZ_BASES(): { name: string; bytes: Uint8Array }[] {
  return [
    { name: 'resnet', bytes: buildResNet50({ width: 0.03125, inputSize: 16, numClasses: 4, seed: 3 }).bytes },
    { name: 'mobilenet', bytes: buildMobileNetV2({ width: 0.125, inputSize: 16, numClasses: 4, seed: 4 }).bytes },
    { name: 'efficientnet', bytes: buildEfficientNetB0({ width: 0.125, inputSize: 16, numClasses: 4, seed: 5 }).bytes },
    { name: 'densenet', bytes: buildDenseNet121({ width: 0.0625, inputSize: 32, numClasses: 4, seed: 6 }).bytes },
  ];
}
