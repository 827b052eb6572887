import { engineInfo, getNumThreads } from '../../tensor/index.js';
import { ablateVersion } from '../../util/version.js';
import { cpus } from 'node:os';

export async function infoCommand(): Promise<void> {
  const e = engineInfo();
  const lines = [
    `ablate     ${ablateVersion()}`,
    `libtorch   ${e.libtorch}${e.mkldnn ? ' (oneDNN)' : ''}`,
    `cuda       ${e.cuda ? 'available' : 'not available in this libtorch build'}`,
    `cpu        ${cpus()[0]?.model ?? 'unknown'} × ${cpus().length}`,
    `threads    ${getNumThreads()} (ABLATE_THREADS or --threads to change)`,
    `bf16       ${e.bf16 ? 'native (AVX-512 BF16 / AMX): precision auto uses bf16 autocast + channels-last' : 'not native: precision auto uses fp32'}`,
  ];
  console.log(lines.join('\n'));
}
