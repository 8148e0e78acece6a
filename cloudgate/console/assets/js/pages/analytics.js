// Analytics: requests, status classes, latency percentiles and top errors
// per API and per gateway over a chosen time range, and the recent requests
// with their v4 metrics fields.
import * as api from '../api.js';
import { h, pageHead, table, fmtNum, fmtMs, fmtTime, badge } from '../dom.js';
import { stackedBars, hbars, groupedBars, legend } from '../charts.js';

const RANGES = [
  { id: '15m', label: 'Last 15 minutes', ms: 15 * 60e3 },
  { id: '1h', label: 'Last hour', ms: 3600e3 },
  { id: '6h', label: 'Last 6 hours', ms: 6 * 3600e3 },
  { id: '24h', label: 'Last 24 hours', ms: 24 * 3600e3 },
  { id: '7d', label: 'Last 7 days', ms: 7 * 24 * 3600e3 },
  { id: 'custom', label: 'Custom range…', ms: 0 },
];
const BUCKETS = 30;
const RECENT = 25; // rows of the recent requests table
// UNKNOWN is Gravitee's id for "no API matched" and "unknown application".
const UNKNOWN = '1';
const REFRESH_MS = 5000;

const CLASS_COLORS = { '1xx': 'var(--c3xx)', '2xx': 'var(--c2xx)', '3xx': 'var(--c3xx)', '4xx': 'var(--c4xx)', '5xx': 'var(--c5xx)' };
const SERIES_KEYS = [
  { key: '2xx', label: '2xx', color: 'var(--c2xx)' },
  { key: 'other', label: '1xx/3xx', color: 'var(--c3xx)' },
  { key: '4xx', label: '4xx', color: 'var(--c4xx)' },
  { key: '5xx', label: '5xx', color: 'var(--c5xx)' },
];

function select(id, label, options, value, onChange) {
  const sel = h('select', { id, onchange: (e) => onChange(e.target.value) },
    options.map((o) => h('option', { value: o.value, selected: o.value === value }, o.label)));
  return h('div', { class: 'field' }, h('label', { for: id }, label), sel);
}

function timeLabeler(rangeMs) {
  return (t) => {
    const d = new Date(Number(t));
    const hm = `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
    return rangeMs > 24 * 3600e3 ? `${d.getMonth() + 1}/${d.getDate()} ${hm}` : hm;
  };
}

function statCard(label, value, id) {
  return h('div', { class: 'stat' }, h('div', { class: 'label' }, label), h('div', { class: 'value', id }, value));
}

function summaryCards(st) {
  const c = st.statusClasses || {};
  const total = Number(st.total) || 0;
  const errors = (Number(c['4xx']) || 0) + (Number(c['5xx']) || 0);
  const gl = st.gatewayLatency || {};
  const el = st.endpointLatency || {};
  return h('div', { class: 'stats' },
    statCard('Requests', fmtNum(total), 'stat-total'),
    statCard('Errors (4xx + 5xx)', total ? `${fmtNum(errors)} · ${((100 * errors) / total).toFixed(1)}%` : '0', 'stat-errors'),
    statCard('Gateway latency p95', fmtMs(gl.p95), 'stat-gw-p95'),
    statCard('Endpoint response p95', fmtMs(el.p95), 'stat-ep-p95'));
}

function chartCard(title, id, ...content) {
  return h('section', { class: 'card', id }, h('h2', {}, title), content);
}

// chartWidth sizes the wide chart's drawing to the screen so its text stays readable.
const chartWidth = () => Math.round(Math.min(1200, Math.max(360, window.innerWidth - 120)));

function charts(st, rangeMs) {
  const series = (st.series || []).map((p) => ({
    ...p, other: Math.max(0, (Number(p.count) || 0) - (Number(p['2xx']) || 0) - (Number(p['4xx']) || 0) - (Number(p['5xx']) || 0)),
  }));
  const classes = Object.entries(st.statusClasses || {}).filter(([, v]) => v > 0).sort()
    .map(([k, v]) => ({ label: k, value: v, color: CLASS_COLORS[k] || 'var(--c3xx)' }));
  const gl = st.gatewayLatency || {};
  const el = st.endpointLatency || {};
  const lat = ['p50', 'p95', 'p99'].map((p) => ({ label: p, values: [
    { name: 'gateway latency', value: gl[p] || 0, color: 'var(--cgw)' },
    { name: 'endpoint response time', value: el[p] || 0, color: 'var(--cep)' }] }));
  const errs = (st.topErrors || []).map((e) => ({ label: e.key || '(none)', value: e.count, color: 'var(--c5xx)' }));
  const wide = (card) => { card.classList.add('wide'); return card; };
  return h('div', { class: 'chart-grid' },
    wide(chartCard('Requests over time', 'chart-requests',
      stackedBars(series, SERIES_KEYS, { label: `Requests over time, ${fmtNum(st.total)} in total`, timeLabel: timeLabeler(rangeMs), width: chartWidth(), height: 240 }),
      legend(SERIES_KEYS))),
    chartCard('Status classes', 'chart-status',
      classes.length ? hbars(classes, { label: 'Requests by status class' }) : h('p', { class: 'muted' }, 'No request in this range.')),
    chartCard('Latency percentiles', 'chart-latency',
      groupedBars(lat, { label: 'Gateway latency and endpoint response time at p50, p95 and p99', unit: ' ms' }),
      legend([{ label: 'Gateway latency (time spent in the gateway)', color: 'var(--cgw)' }, { label: 'Endpoint response time', color: 'var(--cep)' }])),
    chartCard('Top errors', 'chart-errors',
      errs.length ? hbars(errs, { label: 'Most frequent error keys' }) : h('p', { class: 'muted' }, 'No error in this range.')));
}

function statusBadge(code) {
  const c = Number(code);
  return badge(c >= 500 ? 'bad' : c >= 400 ? 'warn' : 'ok', String(c));
}

function showRecord(r) {
  const dlg = h('dialog', { 'aria-label': 'Request details' },
    h('h2', {}, `${r.httpMethod} ${r.uri}`),
    h('pre', { class: 'json' }, JSON.stringify(r, null, 2)),
    h('form', { method: 'dialog', class: 'actions' }, h('button', { class: 'btn btn-primary' }, 'Close')));
  dlg.addEventListener('close', () => dlg.remove());
  document.body.append(dlg);
  dlg.showModal();
}

function timeCell(r) {
  const full = fmtTime(r.timestamp);
  return h('span', { class: 'nowrap', title: full }, full.slice(11));
}

function recordsTable(recs, names) {
  return table([
    { label: 'Time', cell: timeCell },
    { label: 'Request', cell: (r) => h('span', { class: 'mono truncate', title: `${r.httpMethod} ${r.uri}` }, `${r.httpMethod} ${r.uri}`) },
    { label: 'Status', cell: (r) => statusBadge(r.status) },
    { label: 'Response ms', class: 'num', cell: (r) => String(r.gatewayResponseTimeMs) },
    { label: 'Endpoint ms', class: 'num', cell: (r) => String(r.endpointResponseTimeMs) },
    { label: 'Latency ms', class: 'num', cell: (r) => String(r.gatewayLatencyMs) },
    { label: 'API', cell: (r) => r.apiName || (r.apiId === UNKNOWN ? h('span', { class: 'muted' }, 'none matched') : r.apiId || '—') },
    { label: 'Plan', cell: (r) => [r.planId || '—', r.applicationId && r.applicationId !== UNKNOWN ? h('span', { class: 'sub' }, r.applicationId) : null] },
    { label: 'Gateway', cell: (r) => names.get(r.gateway) || r.gateway || '—' },
    { label: 'Client', cell: (r) => h('span', { title: r.userAgent || '' }, r.remoteAddress || '—') },
    { label: 'Error', cell: (r) => (r.errorKey ? h('code', { title: r.errorMessage || '' }, r.errorKey) : '') },
    { label: '', cell: (r) => h('button', { type: 'button', class: 'btn btn-small', 'aria-label': `All fields of ${r.httpMethod} ${r.uri}`, onclick: () => showRecord(r) }, 'Details') },
  ], recs, { caption: 'Recent requests', empty: 'No request in this range yet.' });
}

async function orgCatalog(org, envs) {
  const mine = envs.filter((e) => e.org === org);
  const parts = await Promise.all(mine.map(async (e) => {
    const [apis, gws] = await Promise.all([api.listAPIs(e.org, e.env), api.listGateways(e.org, e.env)]);
    return { apis, gws };
  }));
  return { apis: parts.flatMap((p) => p.apis), gateways: parts.flatMap((p) => p.gws) };
}

export async function render(ctx) {
  const envs = await api.environments();
  const orgs = [...new Set(envs.map((e) => e.org))];
  ctx.main.append(pageHead('Analytics', 'What your gateways served, from the reports they send to this Cloud Gate.'));
  if (!orgs.length) {
    ctx.main.append(h('div', { class: 'card empty' }, h('h2', {}, 'No data yet'), h('p', {}, 'Deploy a gateway and an API first.')));
    return;
  }
  const f = {
    org: orgs.includes(ctx.query.get('org')) ? ctx.query.get('org') : orgs[0],
    api: ctx.query.get('api') || '', gateway: ctx.query.get('gateway') || '',
    range: RANGES.some((r) => r.id === ctx.query.get('range')) ? ctx.query.get('range') : '1h', auto: true,
    from: Date.now() - 3600e3, to: Date.now(),
  };
  let cat = await orgCatalog(f.org, envs);
  const filters = h('form', { class: 'card filters', id: 'analytics-filters', onsubmit: (e) => { e.preventDefault(); draw(); } });
  const results = h('div', { id: 'analytics-results' });
  const stamp = h('p', { class: 'muted small', role: 'status' });
  const drawFilters = () => {
    const names = new Map(cat.gateways.map((g) => [g.id, g.name || g.id]));
    filters.replaceChildren(
      select('f-org', 'Organization', orgs.map((o) => ({ value: o, label: o })), f.org, async (v) => { f.org = v; f.api = ''; f.gateway = ''; cat = await orgCatalog(v, envs); drawFilters(); draw(); }),
      select('f-api', 'API', [{ value: '', label: 'All APIs' }, ...uniqueById(cat.apis).map((a) => ({ value: a.id, label: a.name || a.id })),
        { value: UNKNOWN, label: 'No API matched (404)' }], f.api, (v) => { f.api = v; draw(); }),
      select('f-gateway', 'Gateway', [{ value: '', label: 'All gateways' }, ...cat.gateways.map((g) => ({ value: g.id, label: names.get(g.id) }))], f.gateway, (v) => { f.gateway = v; draw(); }),
      select('f-range', 'Time range', RANGES.map((r) => ({ value: r.id, label: r.label })), f.range, (v) => { f.range = v; drawFilters(); draw(); }),
      ...(f.range === 'custom' ? customRange(f, draw) : []),
      h('label', { class: 'check' }, h('input', { type: 'checkbox', id: 'f-auto', checked: f.auto, onchange: (e) => { f.auto = e.target.checked; } }), h('span', {}, `Refresh every ${REFRESH_MS / 1000} s`)),
      h('button', { type: 'submit', class: 'btn', id: 'f-refresh' }, 'Refresh'));
  };
  const draw = async () => {
    const range = RANGES.find((r) => r.id === f.range);
    const to = range.ms ? Date.now() : f.to;
    const from = range.ms ? to - range.ms : f.from;
    const q = { api: f.api, gateway: f.gateway, from, to };
    const [st, recs] = await Promise.all([
      api.analyticsStats(f.org, { ...q, interval: Math.max(1000, Math.ceil((to - from) / BUCKETS)) }),
      api.analyticsRecords(f.org, { ...q, limit: RECENT }),
    ]);
    if (!ctx.alive()) return;
    const names = new Map(cat.gateways.map((g) => [g.id, g.name || g.id]));
    results.dataset.total = String(st.total || 0);
    results.replaceChildren(summaryCards(st), charts(st, to - from),
      h('section', { class: 'card', id: 'recent-requests' }, h('h2', {}, `Recent requests (latest ${RECENT})`), recordsTable(recs, names)));
    stamp.textContent = `Updated ${new Date().toLocaleTimeString()}.`;
  };
  drawFilters();
  ctx.main.append(filters, stamp, results);
  await draw();
  ctx.every(REFRESH_MS, async () => { if (f.auto && f.range !== 'custom') await draw(); });
}

// localInput formats Unix ms for a datetime-local input, in local time.
function localInput(ms) {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60e3);
  return d.toISOString().slice(0, 16);
}

// customRange is the from/to pair shown for "Custom range…".
function customRange(f, draw) {
  const from = h('input', { type: 'datetime-local', id: 'f-from', value: localInput(f.from) });
  const to = h('input', { type: 'datetime-local', id: 'f-to', value: localInput(f.to) });
  const err = h('div');
  const apply = () => {
    const a = new Date(from.value).getTime();
    const b = new Date(to.value).getTime();
    err.replaceChildren();
    if (!(a < b)) {
      err.append(h('p', { class: 'error', role: 'alert' }, '"From" must be before "to".'));
      return;
    }
    f.from = a;
    f.to = b;
    draw();
  };
  from.addEventListener('change', apply);
  to.addEventListener('change', apply);
  return [
    h('div', { class: 'field' }, h('label', { for: 'f-from' }, 'From'), from),
    h('div', { class: 'field' }, h('label', { for: 'f-to' }, 'To'), to, err),
  ];
}

function uniqueById(list) {
  const seen = new Set();
  return list.filter((a) => (seen.has(a.id) ? false : seen.add(a.id)));
}
