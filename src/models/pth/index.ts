/** PyTorch `.pth` checkpoints: read (zip and legacy formats, restricted unpickler) and write (zip). */
export { CheckpointError } from './checkpointError.js';
export { DTYPE_SIZE, PTH_DTYPES, isPthDtype, isRawTensor, numel, type PthDtype, type RawTensor } from './rawTensor.js';
export { parseCheckpoint, readCheckpoint, type CheckpointSource } from './readCheckpoint.js';
export { isTensorBytes, isTensorSource, readTensorBytes, tensorByteLength, type TensorBytes, type TensorSource } from './tensorSource.js';
export { STATE_DICT_KEYS, readStateDict, selectStateDict, stripKeyPrefix, type ReadStateDictOptions } from './stateDict.js';
export { pickleAttributes } from './torchGlobals.js';
export type { PickleValue } from './unpickler.js';
export { encodeCheckpoint, writeCheckpoint, writeStateDict, type CheckpointValue } from './writeCheckpoint.js';
