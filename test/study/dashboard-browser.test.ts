// The dashboard as a user sees it: `ablate study run --dashboard` on a tiny generated study, watched in
// Debian's chromium (one launch for the whole file). Set ABLATE_SCREENSHOTS=<dir> to keep the screenshots.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'puppeteer-core';
import { chromiumPath, launchBrowser, NO_CHROMIUM } from './browser.js';
import { type CliRun, historyOf, spawnCli, tmp, waitFor, writeStudy } from './live-fixtures.js';

const EPOCHS = 10;

/** The path goes out as written (a URL string would have its `..` resolved by the client first). */
function status(url: string, headers: Record<string, string> = {}): Promise<number> {
  const u = new URL(url);
  const path = url.slice(u.origin.length) || '/';
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

const points = (page: Page, panel: string) => page.$$eval(`#panel-${panel} .mark-symbol.role-mark path`, (els) => els.length);

describe('dashboard in a browser', { skip: chromiumPath() ? false : NO_CHROMIUM }, () => {
  let root: string;
  let out: string;
  let cli: CliRun;
  let url: string;
  let browser: Browser;
  let closeBrowser: () => Promise<void>;
  let page: Page;
  const shots = process.env.ABLATE_SCREENSHOTS ?? join(tmp('ablate-shots-'), 'shots');

  before(async () => {
    root = tmp('ablate-dashboard-');
    out = join(root, 'out');
    const broken = join(root, 'broken.pth');
    writeFileSync(broken, 'these are not weights');
    const file = writeStudy(root, {
      name: 'watched',
      variants: [
        // A few seconds per epoch, so the page is open before the run ends (192 images at 16 px took under
        // 0.7 s an epoch once decoding overlapped training and the step got faster).
        { name: 'slow', data: { generated: { trainCount: 512, size: 24 } }, epochs: EPOCHS },
        { name: 'broken', pretrained: broken },
      ],
      seeds: [0],
    });
    // Two at a time: the broken variant fails while the slow one trains.
    cli = spawnCli(['study', 'run', file, '--out', out, '--parallel', '2', '--threads', '2', '--dashboard']);
    // Chromium starts while the study does.
    const t0 = Date.now();
    const launching = launchBrowser();
    await waitFor('the dashboard URL', () => /http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{48}/.test(cli.output()), cli);
    url = /http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{48}/.exec(cli.output())![0];
    ({ browser, close: closeBrowser } = await launching);
    console.log(`# dashboard and browser up after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    page = await browser.newPage();
    await page.setViewport({ width: 1400, height: 900 });
    mkdirSync(shots, { recursive: true });
  });

  after(async () => {
    await closeBrowser?.();
    if (cli && !cli.exited()) cli.child.kill('SIGINT');
    await cli?.done;
  });

  test('a run\'s curve gains a point after its next epoch, pushed within 2 s of the history write', async () => {
    await page.goto(url, { waitUntil: 'load' });
    assert.ok(!page.url().includes('token='), 'the token leaves the address bar once it is in a cookie');
    const slow = join(out, 'slow-seed0');
    await page.waitForFunction(() => document.querySelectorAll('#panel-val-accuracy .mark-symbol.role-mark path').length >= 1, { timeout: 120_000, polling: 100 });
    // An epoch may be written between the first point appearing and this check (a quiet machine trains
    // fast): the page must catch up with the history within the same 2 s the next check allows.
    let n = await points(page, 'val-accuracy');
    const settle = Date.now() + 2000;
    while (n !== historyOf(slow).length && Date.now() < settle) {
      await new Promise((r) => setTimeout(r, 50));
      n = await points(page, 'val-accuracy');
    }
    assert.equal(n, historyOf(slow).length, 'one point per recorded epoch');
    assert.ok(n < EPOCHS, `the run finished (${n} epochs) before the page could watch it grow`);
    await waitFor('the next epoch', () => historyOf(slow).length > n, cli, 120_000);
    const written = statSync(join(slow, 'history.jsonl')).mtimeMs;
    await page.waitForFunction((k) => document.querySelectorAll('#panel-val-accuracy .mark-symbol.role-mark path').length > k, { timeout: 10_000, polling: 50 }, n);
    const latency = Date.now() - written;
    assert.ok(latency < 2000, `the new point showed ${latency} ms after the history write`);
    console.log(`# new epoch on the page ${latency} ms after the history write`);
    const runRow = await page.$eval('#runs', (e) => e.textContent ?? '');
    assert.match(runRow, /slow-seed0/);
    await page.screenshot({ path: join(shots, 'dashboard-live-1400.png'), fullPage: true });
  });

  test('the failing variant is marked failed, with its reason', async () => {
    await page.waitForFunction(() => [...document.querySelectorAll('#runs tr')].some((tr) => tr.textContent?.includes('broken-seed0') && tr.querySelector('.badge.failed')), { timeout: 180_000, polling: 200 });
    const reason = await page.$$eval('#runs tr', (trs) => trs.find((tr) => tr.textContent?.includes('broken-seed0'))?.querySelector('.reason')?.textContent ?? '');
    assert.match(reason, /broken\.pth/);
    const tableRow = await page.$$eval('#table tr', (trs) => trs.find((tr) => tr.textContent?.includes('broken'))?.textContent ?? '');
    assert.match(tableRow, /failed/);
  });

  test('a request without the token and paths outside the study folder are refused', async () => {
    const base = url.replace(/\?token=.*/, '');
    const token = url.replace(/.*\?token=/, '');
    assert.equal(await status(base), 403);
    assert.equal(await status(`${base}api/state`), 403);
    assert.equal(await status(`${base}files/study.json`), 403);
    assert.equal(await status(`${base}files/study.json?token=${token}`), 302, 'with the token: in (via the cookie redirect)');
    assert.equal(await status(`${base}files/study.json`, { Authorization: `token ${token}` }), 200);
    symlinkSync(root, join(out, 'escape'));
    for (const p of ['files/..%2fbroken.pth', 'files/%2e%2e/broken.pth', 'files/escape/broken.pth']) {
      assert.equal(await status(`${base}${p}`, { Authorization: `token ${token}` }), 403, p);
    }
    // A browser without the cookie gets the explanation, not the study.
    const stranger = await browser.createBrowserContext();
    try {
      const p = await stranger.newPage();
      const res = await p.goto(base);
      assert.equal(res?.status(), 403);
      assert.match(await p.$eval('body', (b) => b.textContent ?? ''), /Access token required/);
    } finally {
      await stranger.close();
    }
  });

  test('on the finished study: variants toggle, values show on hover, loss switches to a linear scale', async () => {
    await waitFor('the study to finish', () => /Study finished; the dashboard stays up/.test(cli.output()), cli, 180_000);
    await page.waitForFunction(() => document.getElementById('live')?.textContent?.startsWith('finished'), { timeout: 10_000 });
    assert.equal(await points(page, 'val-accuracy'), EPOCHS);
    await page.$eval('input[data-variant="slow"]', (e) => (e as HTMLInputElement).click());
    await page.waitForFunction(() => document.getElementById('panel-val-accuracy')?.dataset.points === '0', { timeout: 10_000 });
    await page.$eval('input[data-variant="slow"]', (e) => (e as HTMLInputElement).click());
    await page.waitForFunction((k) => document.querySelectorAll('#panel-val-accuracy .mark-symbol.role-mark path').length === k, { timeout: 10_000 }, EPOCHS);

    const title = () => page.$eval('#panel-train-loss', (e) => e.textContent ?? '');
    assert.match(await title(), /Loss \(log scale\)/);
    await page.$eval('#opt-log', (e) => (e as HTMLInputElement).click());
    await page.waitForFunction(() => !document.getElementById('panel-train-loss')?.textContent?.includes('log scale'), { timeout: 10_000 });

    await page.hover('#panel-val-accuracy .mark-symbol.role-mark path');
    await page.waitForSelector('#vg-tooltip-element.visible', { timeout: 10_000 });
    const tip = await page.$eval('#vg-tooltip-element', (e) => e.textContent ?? '');
    assert.match(tip, /Epoch/);
    assert.match(tip, /slow/);
  });

  test('dashboard and report at 1400 and 390 px: nothing spills sideways; a phone shows variant, accuracy and Δ', async () => {
    assert.ok(existsSync(join(out, 'report.html')));
    for (const [name, path] of [['dashboard', ''], ['report', 'files/report.html']] as const) {
      for (const width of [1400, 390]) {
        await page.setViewport({ width, height: 900 });
        await page.goto(url.replace(/\?token=.*/, path), { waitUntil: 'load' });
        if (name === 'dashboard') await page.waitForFunction(() => Number(document.body.dataset.updates ?? 0) >= 1, { timeout: 30_000 });
        await page.screenshot({ path: join(shots, `${name}-${width}.png`), fullPage: true });
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
        assert.ok(overflow <= width, `${name} at ${width} px is ${overflow} px wide`);
        if (width === 390) {
          // The first ablation card: its name, final accuracy and Δ lie within the screen.
          const sel = name === 'report' ? 'table.cards' : '#table table.cards';
          const boxes = await page.$eval(sel, (t) => [...t.querySelectorAll('tbody tr:first-child td')]
            .filter((td) => td.classList.contains('name') || td.classList.contains('key'))
            .map((td) => { const r = td.getBoundingClientRect(); return { label: td.getAttribute('data-label'), left: r.left, right: r.right, h: r.height }; }));
          assert.equal(boxes.length, 3, JSON.stringify(boxes));
          for (const b of boxes) assert.ok(b.left >= 0 && b.right <= 390 && b.h > 0, `${name}: ${b.label} off-screen: ${JSON.stringify(b)}`);
          const fontPx = await page.$eval(sel, (t) => parseFloat(getComputedStyle(t.querySelector('td')!).fontSize));
          assert.ok(fontPx >= 12, `table text ${fontPx}px`);
        }
      }
    }
    console.log(`# screenshots in ${shots}`);
  });

  test('Ctrl-C stops the dashboard; the exit code still says a run failed', async () => {
    cli.child.kill('SIGINT');
    const r = await cli.done;
    assert.equal(r.code, 1, r.output);
    await assert.rejects(status(url), /ECONNREFUSED/);
  });
});
