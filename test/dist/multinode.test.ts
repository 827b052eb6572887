// Two machines for real: scripts/multinode-check.sh makes two network namespaces joined by a veth pair on a
// private network (10.213.0.0/24), each a "host" with its own ranks, and checks data parallelism over it
// (results equal, a killed node's run resumable, a late node, an absent node, dropped packets), a study folder
// shared by a worker per host, and a two-node Slurm cluster. It skips, saying why, where it cannot run
// (not root, no `ip netns`, no Gloo). This test reads what it printed and checks nothing was left behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');

/** Processes whose command line names `path` (none may outlive the script). */
function processesNaming(path: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(path)) found.push(`${pid}: ${cmd.slice(0, 200)}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

const namespaces = (): string => spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';

test('two hosts as network namespaces: DDP over a veth, a killed node, late/absent/silent nodes, a shared study folder, Slurm', { timeout: 1_500_000 }, (t) => {
  const work = mkdtempSync(join(tmpdir(), 'ablate-multinode-'));
  try {
    const r = spawnSync('bash', [join(ROOT, 'scripts', 'multinode-check.sh'), work], { encoding: 'utf8', timeout: 1_450_000, env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' } });
    const out = `${r.stdout}\n${r.stderr}`;
    const skipped = /multinode-check: SKIP (.*)/.exec(r.stdout);
    if (skipped) {
      t.skip(skipped[1]);
      return;
    }
    assert.equal(r.status, 0, out.slice(-6000));
    assert.match(r.stdout, /multinode-check: PASS/);

    // 4 ranks over the veth follow one process on the concatenated batch, and host 1 really sent its gradients there.
    const ddp = /ddp ok \(4 ranks on 2 hosts, 5 steps equal to one process, veth-bytes=(\d+)\)/.exec(r.stdout);
    assert.ok(ddp, out.slice(-4000));
    assert.ok(Number(ddp[1]) > 5 * 1600 * 4, `host 1 sent only ${ddp[1]} bytes over its veth`);

    // ablate train on both hosts: equal to one host's 4 ranks; host 1 killed -9 names node and rank; resumed exactly.
    assert.match(r.stdout, /train ok \(2 hosts x 2 ranks equal 4 ranks on one host/);
    assert.match(r.stdout, /train killed: status=interrupted\|4\|rank [23] of 4 \(node 1\) was killed by SIGKILL host0-exit=[1-9]\d* host1-exit=137/);
    assert.match(r.stdout, /train resume ok/);

    // A node 20 s late still forms the run.
    assert.match(r.stdout, /late ok \(host 1 started 20 s after host 0/);

    // A node that never comes: host 0's ranks say how many of the 4 reached the rendezvous (rank 1 only when
    // rank 0, which holds the count, is still there), within the timeout.
    for (const rank of ['r0', 'r1']) {
      const line = new RegExp(`absent ${rank}: (.*)`).exec(r.stdout)?.[1] ?? '';
      const count = rank === 'r0' ? /2 of 4 ranks reached the rendezvous at 10\.213\.0\.1:29400/ : /2 of 4 ranks reached|the rendezvous at 10\.213\.0\.1:29400 could not be asked/;
      assert.match(line, /failed for rank [01] of 4 after \d+ ms \(timeout 20000 ms.*Start the missing ranks/, line);
      assert.match(line, count, line);
      assert.ok(Number(/after (\d+) ms/.exec(line)![1]) < 30_000, `the absent node was awaited past the 20 s timeout: ${line}`);
    }
    assert.match(r.stdout, /absent ok/);

    // Packets to the master dropped silently: host 1 cannot reach the rendezvous, host 0 waits for it; both end.
    if (!/drop SKIP/.test(r.stdout)) {
      for (const rank of ['r2', 'r3']) {
        const line = new RegExp(`drop ${rank}: (.*)`).exec(r.stdout)?.[1] ?? '';
        assert.match(line, /rendezvous at 10\.213\.0\.1:29400 failed for rank [23] of 4 after \d+ ms \(timeout 20000 ms.*firewall/, line);
      }
      assert.match(/drop r0: (.*)/.exec(r.stdout)?.[1] ?? '', /2 of 4 ranks reached the rendezvous/);
      assert.match(r.stdout, /drop ok/);
    }

    // One study folder, a worker per host: every run once, host 0's run taken over after its heartbeat stopped.
    assert.match(r.stdout, /study ok \(2 hosts' workers on one folder: 4 runs, each epoch once; host 0 killed, \S+ taken over by host 1/);

    // Slurm with a slurmd per host: the README's recipes unchanged.
    if (!/slurm SKIP/.test(r.stdout)) {
      assert.match(r.stdout, /slurm srun ok \(2 nodes, worldSize 2; a task launched on abmn-host0 and on abmn-host1\)/);
      assert.match(r.stdout, /slurm array ok/);
    }

    // Nothing left: namespaces, processes.
    assert.match(r.stdout, /cleanup namespaces-left=0/);
    assert.doesNotMatch(namespaces(), /abmn\d+-/);
    assert.deepEqual(processesNaming(work), []);
  } finally {
    rmSync(work, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  }
});
