import { describe, it } from 'vitest';
import { conformanceCases, runConformanceCase, hasTestdata } from '../helpers/conformance.js';

const SKIP: [RegExp, string][] = [
  [/convinteger|matmulinteger/, 'integer (quantized) convolution / matmul: GPU tensors are float32'],
  [/convtranspose/, 'ConvTranspose is a different operator (not in this kernel family)'],
];

const cases = conformanceCases([
  'node/test_conv', 'node/test_gemm', 'node/test_matmul',
  'pytorch-converted/test_Conv1d', 'pytorch-converted/test_Conv2d', 'pytorch-converted/test_Linear',
  'pytorch-operator/test_operator_conv', 'pytorch-operator/test_operator_mm', 'pytorch-operator/test_operator_addmm',
]);

describe.skipIf(!hasTestdata)('ONNX conformance: Conv, Gemm, MatMul', () => {
  for (const dir of cases) {
    const name = dir.split('/').slice(-2).join('/');
    const skip = SKIP.find(([re]) => re.test(name));
    if (skip) it.skip(`${name} (${skip[1]})`, () => undefined);
    else it(name, () => runConformanceCase(dir));
  }
});
