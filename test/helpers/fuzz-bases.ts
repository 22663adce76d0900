/** The small models the fuzz test and `npm run fuzz` mutate: two architectures, 16x16, 4 classes. */
import { buildMobileNetV2, buildResNet50 } from '../../tools/model-zoo.js';

export function FUZZ_BASES(): { name: string; bytes: Uint8Array }[] {
  return [
    { name: 'resnet', bytes: buildResNet50({ width: 0.03125, inputSize: 16, numClasses: 4, seed: 3 }).bytes },
    { name: 'mobilenet', bytes: buildMobileNetV2({ width: 0.125, inputSize: 16, numClasses: 4, seed: 4 }).bytes },
  ];
}
