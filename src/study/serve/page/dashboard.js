// The dashboard page: renders the state the server pushes (GET api/events, server-sent events) with
// the report's own Vega-Lite specs through vega-embed. Plain browser JavaScript: nothing to build.
// Everything the study folder says is inserted as text (textContent), never as HTML.

const $ = (id) => document.getElementById(id);
const ui = { hidden: new Set(), seeds: true, log: true };
/** panel id → { key, view, points } so a new epoch updates a chart's data instead of redrawing it. */
const views = new Map();
let current = null;
let latest = null;
let busy = false;
let updates = 0;

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== undefined && c !== null) e.append(c);
  return e;
}

function badge(state) {
  return el('span', { class: `badge ${state.split(' ')[0]}`, text: state });
}

/** A table that becomes one card per row on a phone (the report's CSS), key columns first. */
function table(header, rows, { numeric = [], keys = [], wrap = -1, cell = () => undefined } = {}) {
  const head = el('tr', {}, ...header.map((h, i) => el('th', { class: numeric[i] ? 'num' : undefined, text: h })));
  const body = rows.map((row, r) => el('tr', {}, ...row.map((c, i) => {
    const cls = [numeric[i] ? 'num' : '', i === 0 ? 'name' : '', keys.includes(i) && i > 0 ? 'key' : '', i === wrap ? 'wrap' : ''].filter(Boolean).join(' ');
    const td = el('td', { class: cls || undefined, 'data-label': header[i] });
    const custom = cell(r, i, c);
    if (custom) td.append(custom);
    else td.textContent = c;
    return td;
  })));
  return el('div', { class: 'scroll' }, el('table', { class: 'cards' }, el('thead', {}, head), el('tbody', {}, ...body)));
}

function ago(iso) {
  const s = (Date.now() - new Date(iso).getTime()) / 1000;
  return Number.isFinite(s) ? s : undefined;
}

function renderRuns(s) {
  const header = ['Run', 'Status', 'Progress', 'ETA', 'Speed', 'Best val acc', 'Files'];
  const rows = s.runs.map((r) => [r.name, r.state, '', r.text.eta ?? '', r.text.speed ?? '', r.text.best ?? '', '']);
  return table(header, rows, {
    keys: [1, 2],
    numeric: [false, false, false, true, true, true, false],
    cell: (i, col) => {
      const r = s.runs[i];
      if (col === 1) {
        const f = document.createDocumentFragment();
        f.append(badge(r.state));
        if (r.reason && r.state !== 'ok' && r.state !== 'running') f.append(el('span', { class: 'reason', text: r.reason }));
        return f;
      }
      if (col === 2) {
        const f = document.createDocumentFragment();
        const planned = r.epochsPlanned ?? '?';
        if (r.state === 'running' && r.epoch !== undefined) {
          f.append(`epoch ${r.epoch}/${planned} · step ${r.batch}/${r.batches}`);
          const frac = r.batches ? r.batch / r.batches : 0;
          f.append(el('span', { class: 'progress', title: `${Math.round(100 * frac)}% of epoch ${r.epoch}` }, el('span', { style: `width:${(100 * frac).toFixed(1)}%` })));
          const age = r.progressAt ? ago(r.progressAt) : undefined;
          if (age !== undefined && age > 120) f.append(el('span', { class: 'reason stale', text: `no progress for ${Math.round(age / 60)} min` }));
        } else {
          f.append(`${r.epochsDone}/${planned} epochs`);
        }
        return f;
      }
      if (col === 6 && r.href) return el('a', { href: r.href, text: 'folder' });
      return undefined;
    },
  });
}

function colors(s) {
  const scheme = vega.scheme(s.variants.length <= 10 ? 'tableau10' : 'category20') ?? [];
  return new Map(s.variants.map((v, i) => [v, scheme[i % scheme.length]]));
}

function renderControls(s) {
  const c = colors(s);
  const box = $('controls');
  const multiSeed = s.variants.some((v) => s.runs.filter((r) => r.variant === v).length > 1);
  // Rebuilt only when the variants change: a click must not land on a checkbox that a push just replaced.
  const key = JSON.stringify([s.variants, multiSeed]);
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  box.replaceChildren();
  for (const v of s.variants) {
    const input = el('input', { type: 'checkbox', checked: !ui.hidden.has(v), 'data-variant': v,
      onchange: (e) => { e.target.checked ? ui.hidden.delete(v) : ui.hidden.add(v); draw(); } });
    box.append(el('label', { title: `show ${v}` }, input, el('span', { class: 'swatch', style: `background:${c.get(v)}` }), v));
  }
  box.append(el('span', { class: 'sep' }));
  if (multiSeed) {
    box.append(el('label', {}, el('input', { type: 'checkbox', id: 'opt-seeds', checked: ui.seeds, onchange: (e) => { ui.seeds = e.target.checked; draw(); } }), 'single seeds'));
  }
  box.append(el('label', {}, el('input', { type: 'checkbox', id: 'opt-log', checked: ui.log, onchange: (e) => { ui.log = e.target.checked; draw(); } }), 'log scale for loss'));
}

/** The report's spec, adapted to the page: hidden variants, seeds on/off, linear or log loss, width. */
function panelSpec(panel, datasets, width) {
  const spec = structuredClone(panel.spec);
  delete spec.$schema;
  spec.width = width;
  if (Array.isArray(spec.layer)) {
    if (!ui.seeds) spec.layer = spec.layer.filter((l) => l.name !== 'seeds');
    if (panel.linearY && !ui.log) {
      for (const l of spec.layer) {
        const y = l.encoding?.y;
        if (!y) continue;
        Object.assign(y, structuredClone(panel.linearY));
      }
    }
  }
  const name = spec.data?.name;
  const rows = (datasets[name] ?? []).filter((r) => !ui.hidden.has(r.variant));
  return { spec, name, rows };
}

/** Every panel the same size: two to a row on a wide screen, one on a phone. */
function panelWidth(container) {
  const w = container.clientWidth || 320;
  const perRow = w >= 760 ? 2 : 1;
  // Vega's width is the plot area: leave room for the y axis, its title and the embed's menu button.
  return Math.max(220, Math.floor((w - (perRow - 1) * 32) / perRow) - 130);
}

async function drawPanel(slot, panel, s, width) {
  const { spec, name, rows } = panelSpec(panel, s.datasets, width);
  const key = JSON.stringify(spec);
  const old = views.get(panel.id);
  if (old && old.key === key && old.slot === slot) {
    old.view.data(name, rows);
    await old.view.runAsync();
  } else {
    old?.view.finalize();
    const res = await vegaEmbed(slot, { ...spec, datasets: { [name]: rows } }, {
      renderer: 'svg',
      actions: { export: true, source: false, compiled: false, editor: false },
      tooltip: { theme: 'light' },
    });
    views.set(panel.id, { key, view: res.view, slot });
  }
  slot.dataset.points = String(rows.length);
}

async function draw() {
  const s = current;
  if (!s) return;
  const figures = $('figures');
  const wanted = s.figures.map((f) => `${f.id}:${f.panels.map((p) => p.id).join('+')}`).join(',');
  if (figures.dataset.ids !== wanted) {
    for (const v of views.values()) v.view.finalize();
    views.clear();
    figures.replaceChildren(...s.figures.map((f, i) => el('figure', { id: `fig-${f.id}` },
      el('div', { class: 'panels' }, ...f.panels.map((p) => el('div', { class: 'panel', id: `panel-${p.id}` }))),
      el('figcaption', {}, el('b', { text: `Figure ${i + 1}. ${f.title}. ` }), f.caption))));
    figures.dataset.ids = wanted;
  }
  if (s.figures.length === 0) figures.replaceChildren(el('p', { class: 'meta', text: 'No epochs recorded yet: curves appear when the first run finishes its first epoch.' }));
  for (const f of s.figures) {
    const width = panelWidth(figures);
    for (const p of f.panels) await drawPanel($(`panel-${p.id}`), p, s, width);
  }
}

function render(s) {
  current = s;
  document.title = `${s.name} — ablate dashboard`;
  $('title').textContent = `Ablation study: ${s.name}`;
  $('counts').textContent = s.runCounts ? `· ${s.runCounts}` : '';
  $('main').classList.toggle('finished', !s.active && s.runs.length > 0);
  $('links').replaceChildren(...s.links.map((l) => el('a', { href: l.href, target: '_blank', rel: 'noopener', text: l.label })));
  $('error').hidden = !s.error;
  $('error').textContent = s.error ?? '';
  $('description').hidden = !s.description;
  $('description').textContent = s.description ?? '';
  $('runs').replaceChildren(s.runs.length ? renderRuns(s) : el('p', { class: 'meta', text: 'No runs yet.' }));
  $('verdicts-note').textContent = s.active ? 'Provisional: runs are still training, so these firm up as they finish.' : '';
  $('verdicts').replaceChildren(...(s.verdicts.length ? s.verdicts.map((v) => el('li', { class: v.kind },
    el('span', { class: 'vtitle', text: v.title }), el('span', { class: `tag ${v.kind}`, text: v.tag }), el('br'), v.text,
    ...v.notes.map((n) => el('span', { class: 'note', text: `${n}.` })))) : [el('li', { text: 'Nothing to compare yet.' })]));
  const t = s.table;
  $('table').replaceChildren(t.rows.length ? table(t.header, t.rows, {
    numeric: t.numeric, keys: t.keyColumns, wrap: t.wrapColumn,
    cell: (r, i, c) => (i === t.statusColumn ? badge(c) : undefined),
  }) : el('p', { class: 'meta', text: 'No variants yet.' }));
  $('sec-problems').hidden = s.problems.length === 0;
  $('problems').replaceChildren(...s.problems.map((p) => el('li', {}, el('strong', { text: p.run }), p.state ? ' ' : '', p.state ? badge(p.state) : '', el('div', { class: 'err', text: p.message }))));
  renderControls(s);
  return draw();
}

/** Only the newest state matters: while one is being drawn, later ones replace each other. */
async function accept(s) {
  latest = s;
  if (busy) return;
  busy = true;
  try {
    while (latest) {
      const next = latest;
      latest = null;
      try {
        await render(next);
      } catch (e) {
        $('error').hidden = false;
        $('error').textContent = `Could not draw the dashboard: ${e.message}`;
      }
      updates++;
      document.body.dataset.updates = String(updates);
    }
  } finally {
    busy = false;
  }
}

function connect() {
  const live = $('live');
  const es = new EventSource('api/events');
  es.addEventListener('state', (e) => {
    const s = JSON.parse(e.data);
    live.className = `live ${s.active ? 'on' : ''}`;
    live.textContent = s.active ? 'live' : 'finished · up to date';
    accept(s);
  });
  es.addEventListener('error', () => {
    live.className = 'live off';
    // CLOSED: the server answered but refused (a restarted dashboard has a new token); the browser gives up.
    live.textContent = es.readyState === EventSource.CLOSED
      ? 'disconnected — the dashboard was stopped or restarted: open the URL it printed'
      : 'disconnected — retrying…';
  });
}

let resizeTimer;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => { if (current) accept(current); }, 200);
});
window.dashboard = { get state() { return current; }, ui };
connect();
