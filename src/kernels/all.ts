/** Every kernel family the engine ships, in one registry. */
import { OpRegistry } from './registry.js';
import type { OpDef } from './types.js';
import { shapeOps } from './shape-ops.js';
import { unaryOps } from './unary.js';
import { binaryOps } from './binary.js';
import { batchNormOp } from './batchnorm.js';
import { softmaxOps } from './softmax.js';
import { reduceOps } from './reduce.js';
import { quantizeOps } from './quantize.js';
import { poolOps } from './pool.js';
import { layoutOps } from './layout.js';
import { resizeOps } from './resize.js';
import { gemmOp, matmulOp } from './gemm.js';
import { convOp } from './conv.js';
import { convIntegerOp, qlinearConvOp } from './qlinear-conv.js';
import { matMulIntegerOp, qgemmOp, qlinearMatMulOp } from './qlinear-matmul.js';
import { dynamicQuantizeLinearOp } from './dynamic-quantize.js';
import { qlinearContribOps } from './qlinear-contrib.js';

export const ALL_OPS: readonly OpDef[] = [
  ...shapeOps, ...unaryOps, ...binaryOps, batchNormOp, ...softmaxOps, ...reduceOps, ...quantizeOps,
  ...poolOps, ...layoutOps, ...resizeOps, gemmOp, matmulOp, convOp,
  // QOperator ops: expanded at load into dequantize → float op → quantize (OpDef.expand).
  qlinearConvOp, convIntegerOp, qlinearMatMulOp, matMulIntegerOp, qgemmOp, dynamicQuantizeLinearOp, ...qlinearContribOps,
];

export const defaultRegistry = new OpRegistry(ALL_OPS);
