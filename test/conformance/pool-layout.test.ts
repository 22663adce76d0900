import { describe, it } from 'vitest';
import { conformanceCases, runConformanceCase, hasTestdata } from '../helpers/conformance.js';

const SKIP: [RegExp, string][] = [
  [/pool_3d|Pool3d/, '3-D pooling is not supported (2-D CNN classifiers only)'],
  [/split_zero_size/, 'zero-size tensors are not supported (no CNN produces one)'],
  [/maxpool_2d_uint8/, 'non-float data: GPU tensors are float32'],
  [/maxpool_with_argmax/, 'the optional Indices output of MaxPool is not supported'],
  [/cubic/, 'cubic interpolation is not supported'],
  [/tf_crop_and_resize/, 'tf_crop_and_resize needs roi cropping, not supported'],
];

const cases = conformanceCases([
  'node/test_maxpool_2d', 'node/test_maxpool_1d', 'node/test_maxpool_with_argmax', 'node/test_averagepool_2d', 'node/test_averagepool_1d',
  'node/test_globalaveragepool', 'node/test_globalmaxpool', 'node/test_lrn',
  'node/test_concat', 'node/test_split', 'node/test_transpose', 'node/test_constant_pad', 'node/test_reflect_pad', 'node/test_edge_pad', 'node/test_pad',
  'node/test_slice', 'node/test_gather_0', 'node/test_gather_1', 'node/test_gather_2d', 'node/test_gather_negative', 'node/test_expand', 'node/test_tile',
  'node/test_resize_', 'node/test_upsample',
  'pytorch-converted/test_AvgPool', 'pytorch-converted/test_MaxPool', 'pytorch-converted/test_ConstantPad2d',
  'pytorch-converted/test_ReflectionPad2d', 'pytorch-converted/test_ReplicationPad2d', 'pytorch-converted/test_ZeroPad2d',
  'pytorch-converted/test_PixelShuffle',
  'pytorch-operator/test_operator_chunk', 'pytorch-operator/test_operator_concat2', 'pytorch-operator/test_operator_index',
  'pytorch-operator/test_operator_maxpool', 'pytorch-operator/test_operator_pad', 'pytorch-operator/test_operator_permute2',
  'pytorch-operator/test_operator_repeat', 'pytorch-operator/test_operator_view',
]);

describe.skipIf(!hasTestdata)('ONNX conformance: pooling, layout, resize', () => {
  for (const dir of cases) {
    const name = dir.split('/').slice(-2).join('/');
    const skip = SKIP.find(([re]) => re.test(name));
    if (skip) it.skip(`${name} (${skip[1]})`, () => undefined);
    else it(name, () => runConformanceCase(dir));
  }
});
