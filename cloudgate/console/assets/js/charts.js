// Inline SVG charts: stacked bars over time, horizontal bars and grouped
// bars. Each chart has role="img", an accessible name and a <title> per mark,
// so the numbers are readable without seeing the picture.
import { s, h } from './dom.js';

/** niceMax rounds v up to 1, 2 or 5 times a power of ten. */
export function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmtTick(v) {
  if (v >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (v >= 1e3) return `${+(v / 1e3).toFixed(1)}k`;
  return v > 0 && v < 1 ? `${+v.toFixed(2)}` : `${+v.toFixed(1)}`;
}

function yAxis(max, pad, iw, ih, unit = '') {
  const out = [];
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    const y = pad.t + ih - (ih * i) / 4;
    out.push(s('line', { class: i ? 'grid-line' : 'axis', x1: pad.l, x2: pad.l + iw, y1: y, y2: y }));
    out.push(s('text', { x: pad.l - 6, y: y + 4, 'text-anchor': 'end' }, fmtTick(v) + unit));
  }
  return out;
}

/** legend lists the colours of a chart. */
export function legend(items) {
  return h('ul', { class: 'legend' }, items.map((k) => h('li', {}, h('i', { style: `background:${k.color}` }), k.label)));
}

/**
 * stackedBars draws one bar per point of series, stacked by keys
 * ([{key, label, color}]); timeLabel formats a point's t for the x axis.
 */
export function stackedBars(series, keys, { label, timeLabel, width = 640, height = 220 }) {
  const pad = { l: 44, r: 8, t: 10, b: 24 };
  const iw = width - pad.l - pad.r;
  const ih = height - pad.t - pad.b;
  const total = (p) => keys.reduce((sum, k) => sum + (Number(p[k.key]) || 0), 0);
  const max = niceMax(Math.max(0, ...series.map(total)));
  const n = Math.max(series.length, 1);
  const bw = iw / n;
  const gap = Math.min(3, bw * 0.2);
  const bars = series.map((p, i) => {
    let y = pad.t + ih;
    const x = pad.l + i * bw + gap / 2;
    const tip = `${timeLabel(p.t)}: ` + keys.map((k) => `${k.label} ${Number(p[k.key]) || 0}`).join(', ');
    const rects = keys.map((k) => {
      const v = Number(p[k.key]) || 0;
      const hgt = (ih * v) / max;
      y -= hgt;
      return v ? s('rect', { x, y, width: Math.max(1, bw - gap), height: hgt, fill: k.color }) : null;
    });
    return s('g', { 'data-total': total(p) }, s('title', {}, tip), rects);
  });
  const every = Math.max(1, Math.ceil(n / 6));
  const xlabels = series.map((p, i) => (i % every === 0
    ? s('text', { x: pad.l + i * bw + bw / 2, y: height - 6, 'text-anchor': 'middle' }, timeLabel(p.t)) : null));
  return s('svg', { class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': label },
    yAxis(max, pad, iw, ih), bars, xlabels);
}

/** hbars draws labelled horizontal bars ([{label, value, color}]). */
export function hbars(items, { label, unit = '', width = 640, barHeight = 22 }) {
  const pad = { l: 170, r: 60, t: 4, b: 4 };
  const height = pad.t + pad.b + items.length * (barHeight + 8);
  const iw = width - pad.l - pad.r;
  const max = Math.max(1, ...items.map((x) => Number(x.value) || 0));
  const rows = items.map((x, i) => {
    const y = pad.t + i * (barHeight + 8);
    const w = (iw * (Number(x.value) || 0)) / max;
    const name = x.label.length > 26 ? x.label.slice(0, 25) + '…' : x.label;
    return s('g', {},
      s('title', {}, `${x.label}: ${x.value}${unit}`),
      s('text', { x: pad.l - 8, y: y + barHeight / 2 + 4, 'text-anchor': 'end' }, name),
      s('rect', { x: pad.l, y, width: Math.max(w, x.value ? 2 : 0), height: barHeight, rx: 3, fill: x.color || 'var(--brand)' }),
      s('text', { class: 'value-label', x: pad.l + w + 6, y: y + barHeight / 2 + 4 }, `${fmtTick(Number(x.value) || 0)}${unit}`));
  });
  return s('svg', { class: 'chart', viewBox: `0 0 ${width} ${Math.max(height, 10)}`, role: 'img', 'aria-label': label }, rows);
}

/**
 * groupedBars draws groups of vertical bars: groups [{label, values: [{name,
 * value, color}]}], e.g. p50/p95/p99 each with gateway and endpoint latency.
 */
export function groupedBars(groups, { label, unit = '', width = 640, height = 220 }) {
  const pad = { l: 52, r: 8, t: 18, b: 24 };
  const iw = width - pad.l - pad.r;
  const ih = height - pad.t - pad.b;
  const max = niceMax(Math.max(0, ...groups.flatMap((g) => g.values.map((v) => Number(v.value) || 0))));
  const gw = iw / Math.max(groups.length, 1);
  const marks = groups.map((g, gi) => {
    const bw = (gw * 0.7) / Math.max(g.values.length, 1);
    const x0 = pad.l + gi * gw + gw * 0.15;
    return s('g', {},
      g.values.map((v, vi) => {
        const val = Number(v.value) || 0;
        const hgt = (ih * val) / max;
        const x = x0 + vi * bw;
        const y = pad.t + ih - hgt;
        return s('g', {},
          s('title', {}, `${g.label} ${v.name}: ${val}${unit}`),
          s('rect', { x: x + 2, y, width: Math.max(1, bw - 4), height: hgt, rx: 2, fill: v.color }),
          s('text', { class: 'value-label', x: x + bw / 2, y: y - 4, 'text-anchor': 'middle' }, fmtTick(val)));
      }),
      s('text', { x: pad.l + gi * gw + gw / 2, y: height - 6, 'text-anchor': 'middle' }, g.label));
  });
  return s('svg', { class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': label },
    yAxis(max, pad, iw, ih, unit), marks);
}
