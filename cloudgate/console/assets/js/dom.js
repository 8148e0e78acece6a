// Small DOM helpers. Text always goes in as text nodes, never as HTML, so
// nothing the gate returns (API names, URIs, error messages) can inject markup.

const SVG_NS = 'http://www.w3.org/2000/svg';

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.setAttribute('class', v);
    else if (k === 'style') el.style.cssText = v; // CSSOM, which the Content-Security-Policy allows
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value' || k === 'checked' || k === 'selected') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
}

/** h builds an HTML element: h('a', {href: '#/x'}, 'text', child...). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

/** s builds an SVG element. */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

/** announce reads a short message to screen readers. */
export function announce(msg) {
  const el = document.getElementById('announce');
  if (!el) return;
  el.textContent = '';
  setTimeout(() => { el.textContent = msg; }, 30);
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Clipboard API refused (no permission, insecure context): fall back to a selection.
  }
  const ta = h('textarea', { readonly: true, class: 'visually-hidden' });
  ta.value = text;
  document.body.append(ta);
  ta.select();
  let ok = false;
  try { ok = document.execCommand('copy'); } catch { ok = false; }
  ta.remove();
  return ok;
}

/** copyButton copies getText() to the clipboard and says so. */
export function copyButton(getText, label = 'Copy', what = '') {
  const btn = h('button', { type: 'button', class: 'btn btn-small', 'aria-label': what ? `${label} ${what}` : label });
  btn.textContent = label;
  btn.addEventListener('click', async () => {
    const ok = await copyText(getText());
    btn.textContent = ok ? 'Copied ✓' : 'Select and press Ctrl+C';
    btn.dataset.copied = ok ? 'yes' : 'no';
    announce(ok ? `${what || 'Text'} copied to the clipboard` : 'Copy failed; select the text and press Ctrl+C');
    setTimeout(() => { btn.textContent = label; }, 2500);
  });
  return btn;
}

/** codeBlock shows text in a <pre> with a Copy button. */
export function codeBlock(text, { caption = '', wrap = false, name = '' } = {}) {
  const pre = h('pre', { class: wrap ? 'wrap' : '' }, h('code', {}, text));
  if (name) pre.dataset.name = name;
  return h('figure', { class: 'code' },
    caption ? h('figcaption', {}, caption) : null,
    h('div', { class: 'code-body' }, pre, copyButton(() => text, 'Copy', caption || 'command')));
}

/** downloadLink offers text as a file. */
export function downloadLink(text, filename, label) {
  const url = URL.createObjectURL(new Blob([text], { type: 'text/plain' }));
  return h('a', { class: 'btn btn-small', href: url, download: filename }, label || `Download ${filename}`);
}

/** badge is a coloured status pill; kind is ok, warn, bad or idle. */
export function badge(kind, text, title) {
  return h('span', { class: `badge ${kind}`, title: title || null }, text);
}

/** clearError removes the error shown for a field once the user edits it. */
export function clearError(input) {
  input.removeAttribute('aria-invalid');
  const err = document.getElementById(`${input.id}-error`);
  if (err) err.remove();
}

/** errorBox is an alert with a message and, when given, the field it is about. */
export function errorBox(err, id) {
  const field = err && err.field;
  let msg = (err && err.message) || String(err);
  // The gate's messages often repeat the field ("api x: field: why"); show it once.
  if (field && msg.includes(`${field}: `)) msg = msg.slice(msg.indexOf(`${field}: `) + field.length + 2);
  return h('div', { class: 'error', role: 'alert', id: id || null },
    field ? [h('code', {}, field), ': '] : null,
    msg);
}

/** toDate reads the gate's times: RFC 3339 strings or Unix milliseconds; null when unset. */
export function toDate(v) {
  if (v === undefined || v === null || v === '' || v === 0) return null;
  const d = typeof v === 'number' ? new Date(v) : new Date(v);
  if (Number.isNaN(d.getTime()) || d.getUTCFullYear() < 2000) return null;
  return d;
}

const pad = (n) => String(n).padStart(2, '0');

/** fmtTime is a local date and time, e.g. 2026-11-26 14:05:09. */
export function fmtTime(v) {
  const d = toDate(v);
  if (!d) return '—';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** fmtAgo says how long ago v was, e.g. "12 s ago". */
export function fmtAgo(v) {
  const d = toDate(v);
  if (!d) return 'never';
  const sec = Math.max(0, Math.round((Date.now() - d.getTime()) / 1000));
  if (sec < 60) return `${sec} s ago`;
  if (sec < 3600) return `${Math.floor(sec / 60)} min ago`;
  if (sec < 86400) return `${Math.floor(sec / 3600)} h ago`;
  return `${Math.floor(sec / 86400)} d ago`;
}

/** fmtNum formats an integer with thousands separators. */
export function fmtNum(n) {
  return Number(n || 0).toLocaleString('en-US');
}

/** fmtMs formats a latency in milliseconds. */
export function fmtMs(n) {
  if (n === undefined || n === null || Number.isNaN(Number(n))) return '—';
  const v = Number(n);
  return v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${Math.round(v * 10) / 10} ms`;
}

/** pageHead is the page title with a description and actions on the right. */
export function pageHead(title, description, ...actions) {
  return h('div', { class: 'page-head' },
    h('div', {}, h('h1', {}, title), description ? h('p', { class: 'muted' }, description) : null),
    actions.length ? h('div', { class: 'actions' }, actions) : null);
}

/** confirmDialog asks a yes/no question in a modal <dialog>; resolves true on confirm. */
export function confirmDialog({ title, body, confirm, danger = false }) {
  return new Promise((resolve) => {
    const dlg = h('dialog', { 'aria-labelledby': 'dlg-title' },
      h('h2', { id: 'dlg-title' }, title),
      h('p', {}, body),
      h('form', { method: 'dialog', class: 'actions' },
        h('button', { class: 'btn', value: 'cancel' }, 'Cancel'),
        h('button', { class: danger ? 'btn btn-danger' : 'btn btn-primary', value: 'ok' }, confirm)));
    dlg.addEventListener('close', () => { resolve(dlg.returnValue === 'ok'); dlg.remove(); });
    document.body.append(dlg);
    dlg.showModal();
  });
}

/** table builds a table from column specs {label, cell(row), class}. */
export function table(columns, rows, { caption, empty } = {}) {
  if (!rows.length && empty) return h('p', { class: 'muted' }, empty);
  return h('div', { class: 'table-wrap' },
    h('table', {},
      caption ? h('caption', { class: 'visually-hidden' }, caption) : null,
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: c.class || null }, c.label)))),
      h('tbody', {}, rows.map((r) => h('tr', {}, columns.map((c) => h('td', { class: c.class || null }, c.cell(r))))))));
}
