/**
 * Checking and reading a TorchScript file before libtorch sees it: libtorch would block forever on a FIFO,
 * read a device until memory runs out, and answer garbage with a zip-reader message that names no file.
 */
import { closeSync, fstatSync, openSync, readSync, statSync, constants, type Stats } from 'node:fs';
import { totalmem } from 'node:os';

/** Zip local-file header: every file torch.jit.save writes starts with it. */
const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];
const WRITTEN_BY = 'a TorchScript file written by torch.jit.script(net).save(path) or torch.jit.trace(net, example).save(path)';

/**
 * The largest module file read: half the machine's memory (libtorch holds the file's bytes and the tensors
 * built from them at once while loading), or ABLATE_TORCHSCRIPT_MAX_BYTES.
 */
export function maxTorchScriptBytes(): number {
  const env = Number(process.env.ABLATE_TORCHSCRIPT_MAX_BYTES);
  return Number.isFinite(env) && env > 0 ? env : Math.floor(totalmem() / 2);
}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

const mib = (n: number): string => `${(n / 2 ** 20).toFixed(1)} MiB`;

/** What is wrong with a regular file's size for a module file, or undefined. */
function sizeProblem(file: string, size: number): string | undefined {
  if (size < 22) return `${file} is ${size} bytes, too small for ${WRITTEN_BY}`;
  const max = maxTorchScriptBytes();
  if (size > max) {
    return `${file} is ${mib(size)}, more than the ${mib(max)} a module file may be here (half the machine's memory); ` +
      'expected a smaller module, or set ABLATE_TORCHSCRIPT_MAX_BYTES on a machine with the memory for it';
  }
  return undefined;
}

/**
 * Every problem of `file` as a TorchScript module file, without reading more than its first bytes (and
 * never opening anything but a regular file): undefined when it looks like one.
 */
export function torchScriptFileProblem(file: string): string | undefined {
  let st: Stats;
  try {
    st = statSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? `${file} does not exist; expected ${WRITTEN_BY}` : `${file} cannot be read (${code ?? (e as Error).message})`;
  }
  if (!st.isFile()) return `${file} is ${kindOf(st)}; expected ${WRITTEN_BY}`;
  const size = sizeProblem(file, st.size);
  if (size) return size;
  let fd: number | undefined;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
    const head = Buffer.alloc(4);
    readSync(fd, head, 0, 4, 0);
    if (!ZIP_MAGIC.every((b, i) => head[i] === b)) return `${file} is not a zip archive (it starts with ${head.toString('hex')}); expected ${WRITTEN_BY}`;
  } catch (e) {
    return `${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return undefined;
}

/**
 * The file's bytes, checked again on the open descriptor (the path may have changed since it was validated):
 * a regular file within the size limit, read to its end.
 */
export function readTorchScriptFile(file: string): Buffer {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new TypeError(`${file} is ${kindOf(st)}; expected ${WRITTEN_BY}`);
    const size = sizeProblem(file, st.size);
    if (size) throw new RangeError(size);
    const buf = Buffer.allocUnsafe(st.size);
    let off = 0;
    while (off < st.size) {
      const n = readSync(fd, buf, off, st.size - off, off);
      if (n === 0) throw new Error(`${file} ended after ${off} of its ${st.size} bytes while being read (was it being written?)`);
      off += n;
    }
    return buf;
  } finally {
    closeSync(fd);
  }
}

export { WRITTEN_BY as TORCHSCRIPT_FILE_EXPECTED };
