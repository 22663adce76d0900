import { describe, it } from 'vitest';
import { conformanceCases, runConformanceCase, hasTestdata } from '../helpers/conformance.js';

// QOperator ops (expanded at load into dequantize → float op → quantize). The harness binds
// integer inputs as load-time constants; DynamicQuantizeLinear's float input runs on the GPU.
const all = conformanceCases([
  'node/test_qlinearconv', 'node/test_qlinearmatmul', 'node/test_matmulinteger', 'node/test_basic_convinteger',
  'node/test_convinteger', 'node/test_dynamicquantizelinear',
]);

describe.skipIf(!hasTestdata)('ONNX conformance: quantised (QOperator) ops', () => {
  // The `_expanded` variants are ONNX's function bodies (Cast of run-time tensors to uint8), not the op.
  for (const dir of all.filter((c) => !c.endsWith('_expanded'))) {
    const name = dir.split('/').slice(-1)[0]!;
    // Levels are integers: exact, or one level off where a float32 sum meets a rounding boundary.
    it(name, () => runConformanceCase(dir, { rtol: 0, atol: 1e-4 }));
  }
});
