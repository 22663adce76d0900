import { describe, it } from 'vitest';
import { conformanceCases, runConformanceCase, hasTestdata } from '../helpers/conformance.js';

// Shape-only ops: aliases of their input's buffer, or host-evaluated integer arithmetic.
const cases = conformanceCases([
  'node/test_reshape_', 'node/test_flatten_', 'node/test_squeeze', 'node/test_unsqueeze', 'node/test_shape',
  'node/test_size', 'node/test_constant', 'node/test_constantofshape_float',
  'node/test_identity', 'node/test_cast_FLOAT16_to_FLOAT', 'node/test_cast_DOUBLE_to_FLOAT',
])// allowzero_reordered: a zero-size tensor, which the engine does not support (no CNN produces one).
  .filter((c) => !/identity_(opt|sequence)|constant_pad|allowzero/.test(c));

describe.skipIf(!hasTestdata)('ONNX conformance: shape ops', () => {
  for (const dir of cases) it(dir.split('/').slice(-1)[0]!, () => runConformanceCase(dir));
});
