// `ablate study serve` without a browser: access token, read-only, nothing outside the study folder,
// live pushes over server-sent events, and a folder that changes (or breaks) under the server.
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startDashboard, type Dashboard } from '../../src/study/serve/index.js';
import { resolveInside } from '../../src/study/serve/safe-path.js';
import { dashboardState } from '../../src/study/serve/snapshot.js';
import { countMeanStd } from '../../src/study/report/format.js';
import { logTicks } from '../../src/study/report/plots.js';
import { curve, historyLine, standardRuns, tmpStudyDir, writeFakeStudy } from './fixtures.js';
import { runCli, spawnCli, waitFor } from './live-fixtures.js';

interface Reply { status: number; headers: Record<string, string | string[] | undefined>; body: string }

/** A raw request (no URL normalisation: `..` reaches the server as typed). */
function get(port: number, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer to ${method} ${path}`)));
    req.end();
  });
}

/** Reads server-sent `state` events until `until` accepts one (or the time runs out). */
function events(port: number, token: string) {
  const states: { at: number; state: ReturnType<typeof dashboardState> }[] = [];
  let buf = '';
  const req = request({ host: '127.0.0.1', port, path: '/api/events', headers: { Authorization: `token ${token}` } }, (res) => {
    res.on('data', (d: Buffer) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
        if (block.includes('event: state') && data) states.push({ at: Date.now(), state: JSON.parse(data) });
      }
    });
  });
  req.on('error', () => undefined);
  req.end();
  return {
    states,
    async until(what: string, ok: (s: ReturnType<typeof dashboardState>) => boolean, timeoutMs = 10_000) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const hit = states.find((s) => ok(s.state));
        if (hit) return hit;
        if (Date.now() > end) throw new Error(`no pushed state with ${what} within ${timeoutMs} ms (${states.length} received)`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    close: () => req.destroy(),
  };
}

describe('study serve: access and paths', () => {
  let root: string;
  let dir: string;
  let d: Dashboard;
  const auth = () => ({ Authorization: `token ${d.token}` });
  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'ablate-serve-'));
    dir = join(root, 'study');
    mkdirSync(dir);
    writeFakeStudy(dir, standardRuns());
    // resnet50-seed1 is a quarter into its 4th of 8 epochs (its 3 recorded epochs took 30, 31 and 32 s).
    writeFileSync(join(dir, 'resnet50-seed1', 'progress.json'), JSON.stringify({ epoch: 4, epochs: 8, batch: 10, batches: 40, imagesPerS: 123.4, updatedAt: new Date().toISOString() }));
    writeFileSync(join(root, 'secret.txt'), 'TOP-SECRET-42');
    symlinkSync(join(root, 'secret.txt'), join(dir, 'link-out.txt'));
    symlinkSync(root, join(dir, 'link-dir-out'));
    symlinkSync(join(dir, 'study.json'), join(dir, 'link-in.json'));
    d = await startDashboard({ dir });
  });
  after(async () => {
    await d.close();
    rmSync(root, { recursive: true, force: true });
  });

  test('binds 127.0.0.1 on a free port and prints a URL carrying a random token', () => {
    assert.equal(d.host, '127.0.0.1');
    assert.ok(d.port > 0);
    assert.match(d.token, /^[0-9a-f]{48}$/);
    assert.equal(d.url, `http://127.0.0.1:${d.port}/?token=${d.token}`);
  });

  test('every path needs the token: none or a wrong one is refused, with a hint', async () => {
    for (const path of ['/', '/api/state', '/api/events', '/files/study.json', '/vendor/vega.min.js', '/page/dashboard.js']) {
      const none = await get(d.port, path);
      assert.equal(none.status, 403, path);
      assert.doesNotMatch(none.body, /resnet34|"runs"/, `${path}: nothing of the study leaks`);
      assert.equal((await get(d.port, `${path}?token=${'0'.repeat(48)}`)).status, 403, `${path} with a wrong token`);
      assert.equal((await get(d.port, path, { Authorization: 'token nope' })).status, 403, `${path} with a wrong header`);
    }
    assert.match((await get(d.port, '/')).body, /access token/);
  });

  test('the first visit with ?token= sets an HttpOnly cookie and drops the token from the address', async () => {
    const r = await get(d.port, `/?token=${d.token}`);
    assert.equal(r.status, 302);
    assert.equal(r.headers.location, '/');
    const cookie = String(r.headers['set-cookie']);
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    const page = await get(d.port, '/', { Cookie: cookie.split(';')[0]! });
    assert.equal(page.status, 200);
    assert.match(page.body, /vendor\/vega-embed\.min\.js/);
    assert.doesNotMatch(page.body, /https?:\/\/(?!www\.w3)/, 'no CDN: the page loads nothing from elsewhere');
    assert.match(String(page.headers['content-security-policy']), /default-src 'self'/);
    assert.equal(page.headers['referrer-policy'], 'no-referrer');
  });

  test('Vega, Vega-Lite and vega-embed come from node_modules', async () => {
    for (const f of ['vega.min.js', 'vega-lite.min.js', 'vega-embed.min.js']) {
      const r = await get(d.port, `/vendor/${f}`, auth());
      assert.equal(r.status, 200, f);
      assert.ok(r.body.length > 10_000, f);
      assert.match(String(r.headers['content-type']), /javascript/);
    }
    assert.equal((await get(d.port, '/vendor/other.js', auth())).status, 404);
  });

  test('read-only: anything but GET and HEAD is refused', async () => {
    for (const m of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const r = await get(d.port, '/files/study.json', auth(), m);
      assert.equal(r.status, 405, m);
      assert.equal(r.headers.allow, 'GET, HEAD');
    }
  });

  test('files inside the folder are served; nothing outside it, however the path is spelled', async () => {
    const ok = await get(d.port, '/files/study.json', auth());
    assert.equal(ok.status, 200);
    assert.match(ok.body, /fake-study/);
    assert.match(String(ok.headers['content-security-policy']), /sandbox/, 'study files may run no script');
    assert.equal((await get(d.port, '/files/link-in.json', auth())).status, 200, 'a symlink that stays inside is fine');
    const listing = await get(d.port, '/files/', auth());
    assert.equal(listing.status, 200);
    assert.match(listing.body, /resnet34-seed0\//);
    for (const path of ['/files/../secret.txt', '/files/..%2fsecret.txt', '/files/%2e%2e/secret.txt', '/files/resnet34-seed0/..%2f..%2fsecret.txt',
      '/files/..\\secret.txt', '/files/link-out.txt', '/files/link-dir-out/secret.txt', '/files/link-dir-out/', '/files/%00', '/files/%zz',
      '/../secret.txt', `/files/${encodeURIComponent(join(root, 'secret.txt'))}`]) {
      const r = await get(d.port, path, auth());
      assert.ok([400, 403, 404].includes(r.status), `${path}: ${r.status}`);
      assert.ok(!r.body.includes('TOP-SECRET-42'), `${path} leaked the file`);
    }
    assert.equal((await get(d.port, '/files/link-out.txt', auth())).status, 403);
    assert.match((await get(d.port, '/files/link-dir-out/secret.txt', auth())).body, /leads outside the study folder/);
  });

  test('resolveInside: the rules on their own', () => {
    const real = resolveInside(dir, 'study.json');
    assert.ok(real.ok);
    assert.deepEqual(resolveInside(dir, '..%2f..%2fetc%2fpasswd'), { ok: false, status: 403, reason: 'paths outside the study folder are not served' });
    assert.equal((resolveInside(dir, 'nope.txt') as { status: number }).status, 404);
    assert.equal((resolveInside(dir, 'link-out.txt') as { status: number }).status, 403);
  });

  test('the state: table, verdicts, runs with state and reason, figures with shared data', async () => {
    const r = await get(d.port, '/api/state', auth());
    const s = JSON.parse(r.body) as ReturnType<typeof dashboardState>;
    assert.equal(s.name, 'fake-study');
    assert.equal(s.active, true, 'a run is still running');
    const failed = s.runs.find((x) => x.name === 'resnet50-seed0')!;
    assert.equal(failed.state, 'failed');
    assert.equal(failed.reason, 'CUDA out of memory: tried to allocate 2.00 GiB');
    assert.equal(s.runs.find((x) => x.name === 'plain50-seed0')!.reason, 'loss became NaN at epoch 3, step 112');
    assert.equal(s.runs.find((x) => x.name === 'resnet34-seed0')!.href, 'files/resnet34-seed0/');
    const live = s.runs.find((x) => x.name === 'resnet50-seed1')!;
    assert.equal(live.state, 'running');
    assert.deepEqual([live.epochsDone, live.epoch, live.batch, live.batches, live.epochsPlanned], [3, 4, 10, 40, 8]);
    assert.ok(Math.abs(live.etaS! - 31 * (8 - 3 - 0.25)) < 1e-6, `ETA ${live.etaS}`);
    assert.deepEqual(live.text, { eta: '2 m 27 s', speed: '123 img/s', last: live.text.last, best: live.text.best, elapsed: live.text.elapsed });
    assert.ok(s.table.header.includes('Status'));
    assert.equal(s.table.header[s.table.keyColumns[1]!], 'Final val acc (%, last 3)');
    assert.match(s.table.header[s.table.keyColumns[2]!]!, /^Δ/);
    assert.ok(s.verdicts.length > 0);
    assert.deepEqual(s.figures.map((f) => f.id), ['loss-accuracy', 'val-loss', 'accuracy-vs-params']);
    const panels = s.figures.flatMap((f) => f.panels);
    assert.ok(panels.every((p) => ['epochs', 'points'].includes((p.spec as { data: { name: string } }).data.name)), 'data goes out once, by name');
    assert.equal((s.datasets.epochs as unknown[]).length, 8 * 4 + 3 + 3, 'every epoch row of every run');
    assert.ok(s.problems.some((p) => /last line is incomplete/.test(p.message)), 'the torn history line is reported, not fatal');
  });
});

describe('study serve: live updates', () => {
  test('a new history line is pushed within 2 s; runs that appear, fail and resume show up; a vanished folder does not kill the server', async () => {
    const dir = tmpStudyDir('ablate-serve-live-');
    const runs = standardRuns().slice(0, 2).map((r) => ({ ...r, status: 'running' as const, epochs: r.epochs.slice(0, 3), epochsPlanned: 8 }));
    writeFakeStudy(dir, runs);
    const d = await startDashboard({ dir, pollMs: 200 });
    const ev = events(d.port, d.token);
    try {
      await ev.until('the first state', () => true);
      // A new epoch of resnet34-seed0.
      const extra = curve(8, 0.55, 0.86)[3]!;
      const t0 = Date.now();
      appendFileSync(join(dir, 'resnet34-seed0', 'history.jsonl'), historyLine(extra, 3) + '\n');
      const got = await ev.until('epoch 4 of resnet34-seed0', (s) => s.runs.find((r) => r.name === 'resnet34-seed0')?.epochsDone === 4);
      assert.ok(got.at - t0 < 2000, `pushed after ${got.at - t0} ms`);
      assert.equal((got.state.datasets.epochs as { run: string }[]).filter((r) => r.run === 'resnet34-seed0').length, 4);

      // Half a line (a write caught mid-way): ignored with a warning, the rest still shown.
      appendFileSync(join(dir, 'plain34-seed0', 'history.jsonl'), '{"epoch": 4, "loss": 0.');
      await ev.until('the torn line reported', (s) => s.problems.some((p) => p.run === 'plain34-seed0' && /incomplete/.test(p.message)));

      // A run fails with a reason; another run appears.
      const st = JSON.parse(await import('node:fs').then((fs) => fs.readFileSync(join(dir, 'plain34-seed0', 'status.json'), 'utf8')));
      writeFileSync(join(dir, 'plain34-seed0', 'status.json'), JSON.stringify({ ...st, status: 'failed', error: 'out of memory' }));
      await ev.until('plain34-seed0 failed', (s) => s.runs.some((r) => r.name === 'plain34-seed0' && r.state === 'failed' && r.reason === 'out of memory'));
      writeFakeStudy(dir, [...runs, { name: 'resnet50-seed0', variant: 'resnet50', axes: { model: 'resnet50' }, seed: 0, status: 'running', epochs: curve(1, 0.5, 0.5) }]);
      await ev.until('the new run', (s) => s.runs.some((r) => r.name === 'resnet50-seed0'));

      // The folder goes away: the page says so, and the server keeps answering.
      rmSync(dir, { recursive: true, force: true });
      const gone = await ev.until('an error state', (s) => s.error !== undefined);
      assert.match(gone.state.error!, /cannot read the study folder/);
      assert.equal((await get(d.port, '/api/state', { Authorization: `token ${d.token}` })).status, 200);
    } finally {
      ev.close();
      await d.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('dashboard state of a study that has not started', () => {
  test('pending runs, no figures yet (the page says so rather than drawing empty axes)', () => {
    const runs = standardRuns().slice(0, 2).map((r) => ({ ...r, status: 'pending' as const, epochs: [], noStatus: true }));
    const s = dashboardState(writeFakeStudy(tmpStudyDir(), runs));
    assert.equal(s.active, true);
    assert.deepEqual(s.runs.map((r) => r.state), ['pending', 'pending']);
    assert.deepEqual(s.figures, []);
    assert.equal(s.error, undefined);
  });
});

describe('study serve: bad options', () => {
  test('a missing folder, a bad port and a port in use are clear errors', async () => {
    await assert.rejects(startDashboard({ dir: '/no/such/study' }), /Expected a study folder .* "\/no\/such\/study" \(no such folder\)/);
    const dir = tmpStudyDir();
    await assert.rejects(startDashboard({ dir, port: 70000 }), /Expected a port number from 0 to 65535 .* received 70000/);
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      await assert.rejects(startDashboard({ dir, port }), new RegExp(`port ${port} on 127.0.0.1 is already in use: pick another with --port`));
    } finally {
      blocker.close();
    }
  });
});

describe('study serve: --host', () => {
  test('0.0.0.0 only when asked: then reachable on every interface, still behind the token', async () => {
    const d = await startDashboard({ dir: writeFakeStudy(tmpStudyDir(), standardRuns().slice(0, 2)), host: '0.0.0.0' });
    try {
      assert.equal(d.host, '0.0.0.0');
      assert.match(d.url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=/, 'the printed URL is one that works on this machine');
      assert.equal((await get(d.port, '/api/state')).status, 403);
    } finally {
      await d.close();
    }
  });

  test('an address that is not this machine\'s is a clear error', async () => {
    await assert.rejects(startDashboard({ dir: tmpStudyDir(), host: '192.0.2.1' }), /cannot listen on host "192\.0\.2\.1": not an address of this machine/);
  });
});

describe('report formatting used by the dashboard', () => {
  test('best epoch is a whole number when the seeds agree', () => {
    assert.equal(countMeanStd(8, 0, 2), '8');
    assert.equal(countMeanStd(8, undefined, 1), '8');
    assert.equal(countMeanStd(7.5, Math.SQRT1_2, 2), '7.5 ± 0.7');
    assert.equal(countMeanStd(undefined, undefined, 0), '—');
  });

  test('log-scale loss axes get a few round ticks inside the data range', () => {
    assert.deepEqual(logTicks(0.08, 1.9), [0.1, 0.2, 0.5, 1]);
    assert.deepEqual(logTicks(0.3, 0.9), [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]);
    assert.deepEqual(logTicks(0.05, 7), [0.05, 0.1, 0.2, 0.5, 1, 2, 5]);
    assert.deepEqual(logTicks(0.63, 1.9), [0.7, 0.8, 0.9, 1, 1.5], 'no long unlabelled stretch above 1');
    assert.deepEqual(logTicks(0.0005, 3), [0.001, 0.01, 0.1, 1], 'one per decade over many decades');
    assert.deepEqual(logTicks(1.1, 1.3), [1.1, 1.15, 1.2, 1.25, 1.3], 'a narrow range still gets labels');
  });
});

describe('ablate study serve (the command)', () => {
  test('prints its URL with the token, serves until Ctrl-C, then exits cleanly', async () => {
    const dir = writeFakeStudy(tmpStudyDir(), standardRuns().slice(0, 2));
    const cli = spawnCli(['study', 'serve', dir]);
    await waitFor('the URL', () => /Press Ctrl-C/.test(cli.output()), cli, 60_000);
    const m = /http:\/\/127\.0\.0\.1:(\d+)\/\?token=([0-9a-f]{48})/.exec(cli.output());
    assert.ok(m, cli.output());
    const port = Number(m[1]);
    assert.equal((await get(port, '/api/state')).status, 403);
    assert.equal((await get(port, '/api/state', { Authorization: `token ${m[2]}` })).status, 200);
    cli.child.kill('SIGINT');
    assert.equal((await cli.done).code, 0);
    await assert.rejects(get(port, '/'), /ECONNREFUSED/);
  });

  test('bad flags: a clear error before anything starts', async () => {
    const bad = await runCli(['study', 'serve', '/no/such/study']);
    assert.equal(bad.code, 1);
    assert.match(bad.output, /^ablate: error: Expected a study folder for the dashboard but received "\/no\/such\/study"/);
    const port = await runCli(['study', 'serve', tmpStudyDir(), '--port', 'http']);
    assert.match(port.output, /Expected a port number from 0 to 65535 for --port but received "http"/);
    const noDash = await runCli(['study', 'run', 'studies/demo.yaml', '--port', '8080']);
    assert.equal(noDash.code, 1);
    assert.match(noDash.output, /--port, --host and --allow-host set up the dashboard: add --dashboard/);
  });
});
