// Prints the WebGPU adapter Dawn finds, or exits non-zero. Used by setup-gpu.sh.
import { create, globals } from 'webgpu';
Object.assign(globalThis, globals);
const gpu = create([]);
globalThis.__keepGpu = gpu; // Dawn crashes if this object is collected while a device lives.
const adapter = await gpu.requestAdapter();
if (!adapter) { console.error('no adapter'); process.exit(1); }
const info = adapter.info;
console.log(`${info.vendor} ${info.architecture} ${info.device} ${info.description}`.trim());
process.exit(0);
