#!/usr/bin/env python3
"""Quantises the float models that tools/quant-fixtures.ts wrote to DIR with onnxruntime's static
quantiser in the QOperator format (QLinearConv, QLinearMatMul, com.microsoft QLinearAdd/Mul/...),
MinMax calibration on the seeded inputs in DIR/calib.f32, and writes test/fixtures/quant/*.onnx.
Run through tools/quant-fixtures.ts (see there), not alone. Written against onnxruntime 1.30."""
import os, sys
import numpy as np
import onnxruntime
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

src, out, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
calib = np.fromfile(os.path.join(src, 'calib.f32'), dtype=np.float32).reshape(-1, 1, 3, size, size)

class Reader(CalibrationDataReader):
    def __init__(self):
        self.it = iter([{'input': x} for x in calib])
    def get_next(self):
        return next(self.it, None)

U8, S8 = QuantType.QUInt8, QuantType.QInt8
# (model, activation type, weight type, per-channel): both types and both granularities appear;
# few configurations, to keep the committed files near 350 KB.
CONFIGS = [
    ('resnet', U8, S8, True),
    ('mobilenetv2', U8, U8, False),
    ('efficientnet', U8, S8, True),
    ('misc', U8, U8, False),
    ('misc', S8, S8, True),
]
NAME = {U8: 'u8', S8: 's8'}
os.makedirs(out, exist_ok=True)
for stem, act, wt, per_channel in CONFIGS:
    dst = os.path.join(out, f"{stem}-a{NAME[act]}-w{NAME[wt]}-{'pc' if per_channel else 'pt'}.onnx")
    quantize_static(os.path.join(src, f'{stem}.onnx'), dst, Reader(), quant_format=QuantFormat.QOperator,
                    activation_type=act, weight_type=wt, per_channel=per_channel)
    print(dst, os.path.getsize(dst), 'bytes; onnxruntime', onnxruntime.__version__)
