// The dashboard under hostile traffic: a Host header that is not ours (DNS rebinding), and floods of
// connections that never show a token, while the real (token-bearing) client keeps being answered.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { startDashboard, type Dashboard } from '../../src/study/serve/index.js';
import { standardRuns, tmpStudyDir, writeFakeStudy } from './fixtures.js';
import { runCli } from './live-fixtures.js';

interface Reply { status: number; body: string; headers: Record<string, string | string[] | undefined> }

/** GET with a Host header of our choosing (Node's client lets it be set like any header). */
function get(port: number, path: string, headers: Record<string, string> = {}, timeoutMs = 10_000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer to GET ${path} within ${timeoutMs} ms`)));
    req.end();
  });
}

/** `n` connections that send half a request and then nothing; `closed()` counts those the server ended. */
async function halfOpen(port: number, n: number): Promise<{ sockets: Socket[]; closed: () => number; destroy: () => void }> {
  const sockets: Socket[] = [];
  let closed = 0;
  await Promise.all(Array.from({ length: n }, () => new Promise<void>((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    s.on('close', () => closed++);
    s.once('connect', () => {
      s.write('GET /api/state HTTP/1.1\r\nHost: 127.0.0.1\r\n'); // no blank line: the headers never end
      resolve();
    });
    s.once('close', () => resolve());
    sockets.push(s);
  })));
  return { sockets, closed: () => closed, destroy: () => sockets.forEach((s) => { s.destroy(); }) };
}

const until = async (what: string, cond: () => boolean, ms: number) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('dashboard: the Host header', () => {
  let d: Dashboard;
  before(async () => {
    d = await startDashboard({ dir: writeFakeStudy(tmpStudyDir(), standardRuns().slice(0, 1)) });
  });
  after(() => d.close());

  test('a foreign Host is refused even with the token; loopback names are accepted', async () => {
    const auth = { Authorization: `token ${d.token}` };
    const bad = await get(d.port, '/api/state', { ...auth, Host: `evil.example:${d.port}` });
    assert.equal(bad.status, 403);
    assert.equal(bad.headers.connection, 'close');
    assert.match(bad.body, /Host not allowed/);
    assert.match(bad.body, /This dashboard answers to localhost, 127\.0\.0\.1, ::1, but the request was for &quot;evil\.example:\d+&quot;/);
    assert.match(bad.body, /start it with --allow-host evil\.example/);
    assert.doesNotMatch(bad.body, /"runs"/);
    for (const host of [`localhost:${d.port}`, `127.0.0.1:${d.port}`, `[::1]:${d.port}`, 'LOCALHOST.', '127.0.0.1']) {
      assert.equal((await get(d.port, '/api/state', { ...auth, Host: host })).status, 200, host);
    }
    for (const host of ['127.0.0.1.evil.example', 'localhost.evil.example', `user@localhost:${d.port}`, 'localhost:port']) {
      assert.equal((await get(d.port, '/api/state', { ...auth, Host: host })).status, 403, JSON.stringify(host));
    }
  });

  test('allowHosts (--allow-host) adds names; * accepts any', async () => {
    const dir = writeFakeStudy(tmpStudyDir(), standardRuns().slice(0, 1));
    const named = await startDashboard({ dir, allowHosts: ['dash.lab.example', 'Proxy.Example:8443'] });
    const any = await startDashboard({ dir, allowHosts: ['*'] });
    try {
      const auth = (x: Dashboard) => ({ Authorization: `token ${x.token}` });
      assert.equal((await get(named.port, '/api/state', { ...auth(named), Host: 'dash.lab.example:443' })).status, 200);
      assert.equal((await get(named.port, '/api/state', { ...auth(named), Host: 'proxy.example' })).status, 200, 'a name given with a port allows the name');
      assert.equal((await get(named.port, '/api/state', { ...auth(named), Host: 'other.lab.example' })).status, 403);
      assert.equal((await get(any.port, '/api/state', { ...auth(any), Host: 'whatever.example' })).status, 200);
      await assert.rejects(startDashboard({ dir, allowHosts: ['a b'] }), /Expected a host name or address \(example\.org, 10\.0\.0\.5, \[::1\]\) or \* for allowHosts \(--allow-host\) but received "a b"/);
      await assert.rejects(startDashboard({ dir, limits: { maxUnauthenticated: 0 } }), /Expected a whole number ≥ 1 for limits\.maxUnauthenticated but received 0/);
    } finally {
      await named.close();
      await any.close();
    }
  });

  test('bound to 0.0.0.0: this machine\'s addresses and name are accepted, other names are not', async () => {
    const d0 = await startDashboard({ dir: writeFakeStudy(tmpStudyDir(), standardRuns().slice(0, 1)), host: '0.0.0.0' });
    try {
      const auth = { Authorization: `token ${d0.token}` };
      const own = Object.values(networkInterfaces()).flatMap((l) => l ?? []).filter((a) => a.family === 'IPv4').map((a) => a.address);
      for (const h of [...own, hostname()]) assert.equal((await get(d0.port, '/api/state', { ...auth, Host: `${h}:${d0.port}` })).status, 200, h);
      assert.equal((await get(d0.port, '/api/state', { ...auth, Host: 'rebind.attacker.example' })).status, 403);
    } finally {
      await d0.close();
    }
  });

  test('the CLI refuses a bad --allow-host before starting', async () => {
    const r = await runCli(['study', 'serve', tmpStudyDir(), '--allow-host', 'ok.example,no/slash']);
    assert.equal(r.code, 1);
    assert.match(r.output, /for allowHosts \(--allow-host\) but received "no\/slash"/);
  });
});

describe('dashboard: connections without the token', () => {
  test('a flood of half-open connections is capped and timed out; the token client keeps its answers and its live stream', async () => {
    const d = await startDashboard({ dir: writeFakeStudy(tmpStudyDir(), standardRuns().slice(0, 1)), limits: { maxUnauthenticated: 8, unauthenticatedMs: 800 } });
    let flood: Awaited<ReturnType<typeof halfOpen>> | undefined;
    try {
      // The real client's live stream, opened before the flood: proven by its token, never evicted.
      let events = 0;
      const live = request({ host: '127.0.0.1', port: d.port, path: '/api/events', headers: { Authorization: `token ${d.token}` }, agent: false }, (res) => {
        res.on('data', () => events++);
      });
      live.on('error', () => undefined);
      live.end();
      await until('the live stream is open', () => d.clients() === 1, 5000);
      flood = await halfOpen(d.port, 60);
      await until('the server closed all but 8 of the flood', () => flood!.closed() >= 52, 3000);
      assert.ok(d.unauthenticated() <= 8, `${d.unauthenticated()} unauthenticated connections kept`);
      const t0 = Date.now();
      const r = await get(d.port, '/api/state', { Authorization: `token ${d.token}` }, 3000);
      assert.equal(r.status, 200);
      assert.ok(Date.now() - t0 < 2000, `answered in ${Date.now() - t0} ms during the flood`);
      // The rest of the flood is closed by the time limit; the live stream is not.
      await until('the time limit closed the remaining half-open connections', () => flood!.closed() === 60, 4000);
      assert.equal(d.clients(), 1, 'the token client\'s live stream survived the flood');
      assert.ok(events > 0);
      live.destroy();
    } finally {
      flood?.destroy();
      await d.close();
    }
  });

  test('while a flood keeps opening connections, the token client is still answered promptly', async () => {
    const d = await startDashboard({ dir: writeFakeStudy(tmpStudyDir(), standardRuns().slice(0, 1)), limits: { maxUnauthenticated: 16 } });
    let opened = 0;
    let closedByServer = 0;
    let stop = false;
    const open = new Set<Socket>();
    const flooding = (async () => {
      while (!stop) {
        for (let i = 0; i < 10; i++) {
          const s = connect(d.port, '127.0.0.1');
          opened++;
          open.add(s);
          s.on('error', () => undefined);
          s.on('close', () => { open.delete(s); if (!stop) closedByServer++; });
          s.once('connect', () => s.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n'));
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    try {
      await until('the flood is under way', () => opened >= 200, 10_000);
      for (let i = 0; i < 5; i++) {
        const t0 = Date.now();
        const r = await get(d.port, '/api/state', { Authorization: `token ${d.token}` }, 3000);
        assert.equal(r.status, 200);
        assert.ok(Date.now() - t0 < 2000, `answered in ${Date.now() - t0} ms`);
      }
      // The server holds 16 of them at most (the rest are closed, oldest first, or still in the kernel's queue).
      assert.ok(d.unauthenticated() <= 16, `${d.unauthenticated()} kept`);
      assert.ok(closedByServer > opened / 2, `the server closed ${closedByServer} of ${opened}`);
    } finally {
      stop = true;
      await flooding;
      for (const s of open) s.destroy();
      await d.close();
    }
  });

  test('tight request timeouts do not cut a token client\'s live stream or its keep-alive requests', async () => {
    const d = await startDashboard({ dir: writeFakeStudy(tmpStudyDir(), standardRuns().slice(0, 1)), limits: { headersTimeoutMs: 300, unauthenticatedMs: 300 } });
    try {
      let closed = false;
      const live = request({ host: '127.0.0.1', port: d.port, path: '/api/events', headers: { Authorization: `token ${d.token}` }, agent: false }, (res) => {
        res.on('data', () => undefined);
        res.on('close', () => (closed = true));
      });
      live.on('error', () => undefined);
      live.end();
      await until('the live stream is open', () => d.clients() === 1, 5000);
      await new Promise((r) => setTimeout(r, 2500)); // several times every limit
      assert.equal(closed, false);
      assert.equal(d.clients(), 1);
      live.destroy();
      // A kept-alive connection that showed the token is reused after the limit for connections without one.
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      const ask = () => new Promise<{ status: number; reused: boolean }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: d.port, path: '/api/state', headers: { Authorization: `token ${d.token}` }, agent }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }));
        });
        req.on('error', reject);
        req.end();
      });
      assert.deepEqual(await ask(), { status: 200, reused: false });
      await new Promise((r) => setTimeout(r, 1000));
      assert.deepEqual(await ask(), { status: 200, reused: true });
      agent.destroy();
      // A half-open connection, by contrast, is gone after the limit.
      const one = await halfOpen(d.port, 1);
      await until('the half-open connection was closed', () => one.closed() === 1, 3000);
    } finally {
      await d.close();
    }
  });

  test('with few file descriptors (ulimit -n 200), 400 half-open connections do not lock the token client out', async () => {
    const dir = writeFakeStudy(tmpStudyDir(), standardRuns().slice(0, 1));
    const child = spawn('bash', ['-c', 'ulimit -n 200 && exec "$0" --import tsx test/study/child-dashboard.ts "$1"', process.execPath, dir], {
      cwd: new URL('../..', import.meta.url).pathname, stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    let flood: Awaited<ReturnType<typeof halfOpen>> | undefined;
    try {
      await until('the dashboard started', () => out.includes('\n') || child.exitCode !== null, 60_000);
      const { port, token } = JSON.parse(out) as { port: number; token: string };
      flood = await halfOpen(port, 400);
      for (let i = 0; i < 3; i++) {
        const t0 = Date.now();
        const r = await get(port, '/api/state', { Authorization: `token ${token}` }, 3000);
        assert.equal(r.status, 200);
        assert.ok(Date.now() - t0 < 3000);
      }
      assert.ok(flood.closed() >= 400 - 64 - 5, `the server closed ${flood.closed()} of 400 half-open connections`);
    } finally {
      flood?.destroy();
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
    }
  });
});
