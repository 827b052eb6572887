/** PyTorch `.pth` checkpoints: read (zip and legacy formats, restricted unpickler) and write (zip). */
export { CheckpointError } from './checkpoint-error.js';
export { DTYPE_SIZE, PTH_DTYPES, isPthDtype, isRawTensor, numel, type PthDtype, type RawTensor } from './raw-tensor.js';
export { parseCheckpoint, readCheckpoint, type CheckpointSource } from './read-checkpoint.js';
export { isTensorBytes, isTensorSource, readTensorBytes, tensorByteLength, type TensorBytes, type TensorSource } from './tensor-source.js';
export { STATE_DICT_KEYS, readStateDict, selectStateDict, stripKeyPrefix, type ReadStateDictOptions } from './state-dict.js';
export { pickleAttributes } from './torch-globals.js';
export type { PickleValue } from './unpickler.js';
export { encodeCheckpoint, writeCheckpoint, writeStateDict, type CheckpointValue } from './write-checkpoint.js';
