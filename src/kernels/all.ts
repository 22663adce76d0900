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

export const ALL_OPS: readonly OpDef[] = [
  ...shapeOps, ...unaryOps, ...binaryOps, batchNormOp, ...softmaxOps, ...reduceOps, ...quantizeOps,
  ...poolOps, ...layoutOps, ...resizeOps, gemmOp, matmulOp, convOp,
];

export const defaultRegistry = new OpRegistry(ALL_OPS);
