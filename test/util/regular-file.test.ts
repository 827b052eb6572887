// The one rule for files ablate reads: regular files only (symlinks followed), sizes checked before reading.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { FileReadError, byteLimitFromEnv, openRegularFile, readRegularFile, readRegularFileSync, readRegularTextSync } from '../../src/util/regular-file.js';
import { readConfigText } from '../../src/util/config-file.js';

const dir = mkdtempSync(join(tmpdir(), 'ablate-regular-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const fifo = join(dir, 'pipe.yaml');
execFileSync('mkfifo', [fifo]);
const zero = join(dir, 'zero.pth');
symlinkSync('/dev/zero', zero);
const file = join(dir, 'ok.txt');
writeFileSync(file, 'hello');

describe('readRegularFile', () => {
  it('reads a regular file, and one through a symlink', async () => {
    const link = join(dir, 'link.txt');
    symlinkSync(file, link);
    assert.equal((await readRegularFile(link)).toString(), 'hello');
    assert.equal(readRegularFileSync(file).toString(), 'hello');
    const { fh, size } = await openRegularFile(file);
    await fh.close();
    assert.equal(size, 5);
  });

  const refusals: Array<[string, () => string, RegExp]> = [
    ['a symlink to /dev/zero', () => zero, /^Expected a regular file for the checkpoint but received a character device \(\/dev\/zero\) at \S+zero\.pth: devices, FIFOs and sockets may never end or never start, so ablate reads only real files; point it at one$/],
    ['a FIFO no one writes to', () => fifo, /^Expected a regular file for the checkpoint but received a FIFO \(named pipe\) at \S+pipe\.yaml: /],
    ['a folder', () => dir, /^Expected a regular file for the checkpoint but received a folder at \S+: point it at a file inside$/],
    ['a missing file', () => join(dir, 'nope.pth'), /^checkpoint \S+nope\.pth does not exist$/],
  ];
  for (const [what, path, message] of refusals) {
    it(`refuses ${what} by name at once, async and sync`, async () => {
      const t0 = performance.now();
      await assert.rejects(readRegularFile(path(), { what: 'checkpoint' }), (e: Error) => e instanceof FileReadError && message.test(e.message));
      assert.throws(() => readRegularFileSync(path(), { what: 'checkpoint' }), (e: Error) => e instanceof FileReadError && message.test(e.message));
      assert.ok(performance.now() - t0 < 1000, `took ${(performance.now() - t0).toFixed(0)} ms`);
    });
  }

  it('refuses a socket by name', async () => {
    const sock = join(dir, 's.sock');
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(sock, resolve));
    try {
      await assert.rejects(readRegularFile(sock, { what: 'image' }), /^FileReadError: Expected a regular file for the image but received a socket at \S+s\.sock: /);
      assert.throws(() => readRegularFileSync(sock, { what: 'image' }), /received a socket/);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('refuses a file over maxBytes before reading it, with the hint', async () => {
    await assert.rejects(readRegularFile(file, { what: 'image', maxBytes: 4, tooLargeHint: 'raise X' }),
      { name: 'FileReadError', code: 'too-large', message: `Expected an image of at most 4 bytes but ${file} has 5 bytes: raise X` });
    const big = join(dir, 'big.json');
    writeFileSync(big, Buffer.alloc(3 << 20, 0x20));
    assert.throws(() => readRegularTextSync(big, { maxBytes: 1 << 20 }), /^FileReadError: Expected a file of at most 1\.0 MiB but \S+big\.json has 3\.0 MiB$/);
  });

  it('byte limits from the environment: default, a value, a bad value named', () => {
    assert.equal(byteLimitFromEnv('ABLATE_TEST_LIMIT_UNSET', 7), 7);
    process.env.ABLATE_TEST_LIMIT = '1024';
    assert.equal(byteLimitFromEnv('ABLATE_TEST_LIMIT', 7), 1024);
    process.env.ABLATE_TEST_LIMIT = '1e3x';
    assert.throws(() => byteLimitFromEnv('ABLATE_TEST_LIMIT', 7), /^TypeError: Expected a positive whole number of bytes in ABLATE_TEST_LIMIT but received "1e3x"$/);
    delete process.env.ABLATE_TEST_LIMIT;
  });
});

describe('config and study files', () => {
  it('a FIFO as the config file is refused at once instead of blocking the process', () => {
    const t0 = performance.now();
    assert.throws(() => readConfigText(fifo, 'study file'), { name: 'ConfigFileError', code: 'unreadable', message: new RegExp(`^Expected a regular file for the study file but received a FIFO \\(named pipe\\) at ${fifo.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `) } as never);
    assert.ok(performance.now() - t0 < 1000);
    assert.throws(() => readConfigText(zero, 'config file'), /received a character device \(\/dev\/zero\)/);
  });
});
