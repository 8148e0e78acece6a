// APIs: import Gravitee v4 definitions (file or paste), list, view, deploy
// and undeploy them per environment, and see which gateways run them.
import * as api from '../api.js';
import { h, pageHead, errorBox, badge, table, announce, toDate, copyButton } from '../dom.js';
import { currentEnv, envPicker, envKey, rememberEnv, gatewayState } from '../model.js';

/** TEMPLATE is a minimal keyless v4 proxy API for the "Insert a template" button. */
const TEMPLATE = {
  id: 'my-api',
  name: 'My API',
  apiVersion: '1.0',
  definitionVersion: 'V4',
  type: 'proxy',
  listeners: [{ type: 'http', paths: [{ path: '/my-api' }], entrypoints: [{ type: 'http-proxy' }] }],
  endpointGroups: [{
    name: 'default', type: 'http-proxy',
    endpoints: [{ name: 'backend', type: 'http-proxy', configuration: { target: 'https://backend.example.com' } }],
  }],
  plans: [{ id: 'keyless', name: 'Keyless', status: 'PUBLISHED', security: { type: 'key-less' } }],
};

const apiHref = (e, id) => `#/apis/${encodeURIComponent(e.org)}/${encodeURIComponent(e.env)}/${encodeURIComponent(id)}`;

function statusBadge(a) {
  return a.deployed ? badge('ok', `Deployed · revision ${a.deployedRevision}`) : badge('idle', 'Not deployed');
}

function plansCell(plans) {
  return (plans || []).map((p) => h('span', { class: 'tag', title: p.id }, `${p.name || p.id} (${p.security || 'key-less'})`));
}

async function deployToggle(e, a, after) {
  try {
    const res = a.deployed ? await api.undeployAPI(e.org, e.env, a.id) : await api.deployAPI(e.org, e.env, a.id);
    announce(`${a.name || a.id} ${a.deployed ? 'undeployed' : 'deployed'}: revision ${res && res.revision}`);
  } catch (err) {
    announce(err.message);
    alertBox(err);
  }
  await after();
}

let alertSlot = null;
function alertBox(err) {
  if (alertSlot) alertSlot.replaceChildren(errorBox(err));
}

function deployButton(e, a, after) {
  const btn = h('button', { type: 'button', class: a.deployed ? 'btn btn-small btn-danger' : 'btn btn-small btn-primary',
    'data-action': a.deployed ? 'undeploy' : 'deploy', 'data-api': a.id,
    'aria-label': `${a.deployed ? 'Undeploy' : 'Deploy'} ${a.name || a.id} in ${e.org} / ${e.env}` }, a.deployed ? 'Undeploy' : 'Deploy');
  btn.addEventListener('click', async () => { btn.disabled = true; await deployToggle(e, a, after); });
  return btn;
}

// runningSummary says how many of the environment's gateways run the API's deployed revision.
function runningSummary(a, gws) {
  if (!a.deployed) return h('span', { class: 'muted' }, '—');
  const live = gws.filter((g) => !g.revoked && toDate(g.lastSeen));
  const running = live.filter((g) => Number(g.revisionApplied) >= Number(a.deployedRevision)).length;
  if (!live.length) return h('span', { class: 'muted' }, 'no gateway connected');
  return badge(running === live.length ? 'ok' : 'warn', `${running} / ${live.length} gateways`);
}

function apisTable(e, apis, gws, after) {
  return table([
    { label: 'API', cell: (a) => [h('a', { href: apiHref(e, a.id) }, h('strong', {}, a.name || a.id)), h('span', { class: 'sub mono' }, a.id)] },
    { label: 'Context paths', cell: (a) => (a.contextPaths || []).map((p) => h('span', { class: 'tag' }, p)) },
    { label: 'Plans', cell: (a) => plansCell(a.plans) },
    { label: 'Status', cell: (a) => h('span', { 'data-api-status': a.id }, statusBadge(a)) },
    { label: 'Running on', cell: (a) => h('span', { 'data-api-running': a.id }, runningSummary(a, gws)) },
    { label: 'Actions', cell: (a) => h('div', { class: 'actions' }, h('a', { class: 'btn btn-small', href: apiHref(e, a.id) }, 'View'), deployButton(e, a, after)) },
  ], apis, { caption: `APIs of ${e.org} / ${e.env}`, empty: 'No API in this environment yet: import one below.' });
}

// locateField finds where a field path such as
// "endpointGroups[0].endpoints[0].configuration.target" is in the JSON text,
// by following its keys in order. It gives up on paths past a first element
// ([1] and on), where following keys could point at the wrong element.
export function locateField(text, field) {
  if (!field || /\[[1-9]\d*\]/.test(field)) return null;
  let at = -1;
  let key = '';
  for (const part of field.split('.')) {
    key = `"${part.replace(/\[\d+\]/g, '')}"`;
    at = text.indexOf(key, at + 1);
    if (at < 0) return null;
  }
  return { start: at, end: at + key.length, line: text.slice(0, at).split('\n').length };
}

function importCard(e, onImported) {
  const ta = h('textarea', { id: 'api-definition', rows: 10, spellcheck: 'false', 'aria-describedby': 'api-definition-hint',
    placeholder: '{ "id": "…", "name": "…", "definitionVersion": "V4", "type": "proxy", … }' });
  const file = h('input', { type: 'file', id: 'api-file', accept: '.json,application/json' });
  const errSlot = h('div', { id: 'api-definition-error-slot' });
  const okSlot = h('div');
  const setError = (err) => {
    errSlot.replaceChildren(err ? errorBox(err, 'api-definition-error') : '');
    ta.setAttribute('aria-invalid', err ? 'true' : 'false');
    ta.setAttribute('aria-describedby', err ? 'api-definition-error api-definition-hint' : 'api-definition-hint');
  };
  file.addEventListener('change', async () => {
    const f = file.files[0];
    if (!f) return;
    if (f.size > 1 << 20) { setError({ message: `${f.name} is ${Math.round(f.size / 1024)} KiB; a definition may be at most 1 MiB.` }); return; }
    ta.value = await f.text();
    setError(null);
  });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', id: 'import-api' }, 'Import');
  const form = h('form', { novalidate: true },
    h('div', { class: 'field' }, h('label', { for: 'api-file' }, 'Definition file'), file),
    h('div', { class: 'field' },
      h('label', { for: 'api-definition' }, 'or paste the definition (JSON)'),
      ta,
      h('p', { class: 'hint', id: 'api-definition-hint' }, 'A Gravitee v4 proxy API, as exported from Gravitee APIM (definitionVersion "V4", type "proxy").'),
      errSlot),
    okSlot,
    h('div', { class: 'actions' }, submit,
      h('button', { type: 'button', class: 'btn', onclick: () => { ta.value = JSON.stringify(TEMPLATE, null, 2); setError(null); ta.focus(); } }, 'Insert a template')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    okSlot.replaceChildren();
    const text = ta.value.trim();
    if (!text) { setError({ message: 'Choose a file or paste a definition first.' }); ta.focus(); return; }
    try { JSON.parse(text); } catch (err) { setError({ message: `This is not valid JSON: ${err.message}` }); ta.focus(); return; }
    submit.disabled = true;
    try {
      const res = await api.importAPI(e.org, e.env, text);
      setError(null);
      okSlot.replaceChildren(h('p', { class: 'success', role: 'status', id: 'import-result' },
        'Imported ', h('a', { href: apiHref(e, res.id) }, res.id), ' into ', `${e.org} / ${e.env}`, '. Deploy it above to send it to the gateways.'));
      ta.value = '';
      file.value = '';
      await onImported();
    } catch (err) {
      if (err.status === 401) return;
      const where = locateField(ta.value, err.field);
      setError(where ? { message: `${err.message} (line ${where.line})`, field: err.field } : err);
      ta.focus();
      if (where) ta.setSelectionRange(where.start, where.end);
    } finally {
      submit.disabled = false;
    }
  });
  return h('section', { class: 'card', id: 'import' }, h('h2', {}, `Import an API into ${e.org} / ${e.env}`), form);
}

async function renderList(ctx) {
  const envs = await api.environments();
  const head = pageHead('APIs', 'Import Gravitee v4 API definitions, then deploy them to an environment\u2019s gateways.');
  ctx.main.append(head);
  if (!envs.length) {
    ctx.main.append(h('div', { class: 'card empty' }, h('h2', {}, 'No environment yet'),
      h('p', {}, 'APIs are deployed to an environment. Deploy a gateway first: the wizard creates the environment.'),
      h('a', { class: 'btn btn-primary', href: '#/gateways/deploy' }, 'Deploy Gateway')));
    return;
  }
  let e = currentEnv(envs, ctx.query.get('env'));
  rememberEnv(e);
  alertSlot = h('div');
  const listCard = h('section', { class: 'card', id: 'api-list' });
  const importSlot = h('div');
  const draw = async () => {
    const [apis, gws] = await Promise.all([api.listAPIs(e.org, e.env), api.listGateways(e.org, e.env)]);
    if (!ctx.alive()) return;
    listCard.replaceChildren(h('h2', {}, `APIs in ${e.org} / ${e.env}`), apisTable(e, apis, gws, draw));
  };
  const pick = async (x) => { e = x; importSlot.replaceChildren(importCard(e, draw)); alertSlot.replaceChildren(); await draw(); };
  head.append(h('div', { class: 'actions' }, envPicker(envs, e, pick)));
  ctx.main.append(alertSlot, listCard, importSlot);
  await pick(e);
  ctx.every(3000, draw);
}

function gatewayRunsCell(a, g) {
  const st = gatewayState(g);
  if (st.text === 'Refused') return badge('bad', 'refused (token revoked)');
  if (!toDate(g.lastSeen)) return badge('idle', 'never connected');
  if (!a.deployed) return badge('idle', 'not deployed');
  if (Number(g.revisionApplied) >= Number(a.deployedRevision)) return badge('ok', `runs revision ${a.deployedRevision}`);
  return badge('warn', `behind: at ${g.revisionApplied}, needs ${a.deployedRevision}`);
}

function detailSummary(def, statusSlot) {
  const targets = (def.endpointGroups || []).flatMap((g) => (g.endpoints || []).map((x) => (x.configuration && x.configuration.target) || x.name));
  const paths = (def.listeners || []).flatMap((l) => (l.paths || []).map((p) => (p.host ? p.host : '') + p.path));
  return h('dl', { class: 'summary' },
    h('dt', {}, 'Id'), h('dd', { class: 'mono' }, def.id),
    h('dt', {}, 'Version'), h('dd', {}, def.apiVersion || '—'),
    def.description ? [h('dt', {}, 'Description'), h('dd', {}, def.description)] : null,
    h('dt', {}, 'Context paths'), h('dd', {}, paths.map((p) => h('span', { class: 'tag' }, p))),
    h('dt', {}, 'Endpoints'), h('dd', {}, targets.map((t) => h('span', { class: 'tag' }, t))),
    h('dt', {}, 'Plans'), h('dd', {}, (def.plans || []).map((p) => h('span', { class: 'tag' }, `${p.name || p.id} (${(p.security && p.security.type) || 'key-less'})`))),
    h('dt', {}, 'Status'), statusSlot);
}

function promoteForm(envs, e, def, after) {
  const others = envs.filter((x) => envKey(x) !== envKey(e));
  if (!others.length) return null;
  const sel = h('select', { id: 'promote-env' }, others.map((x) => h('option', { value: envKey(x) }, `${x.org} / ${x.env}`)));
  const out = h('div', { id: 'promote-result' });
  const btn = h('button', { type: 'button', class: 'btn', id: 'promote' }, 'Import and deploy there');
  btn.addEventListener('click', async () => {
    const [org, env] = sel.value.split('/');
    btn.disabled = true;
    out.replaceChildren();
    try {
      await api.importAPI(org, env, JSON.stringify(def));
      const res = await api.deployAPI(org, env, def.id);
      out.append(h('p', { class: 'success', role: 'status' }, `Deployed to ${org} / ${env} at revision ${res.revision}.`));
      await after();
    } catch (err) {
      out.append(errorBox(err));
    } finally {
      btn.disabled = false;
    }
  });
  return h('section', { class: 'card' }, h('h2', {}, 'Deploy to another environment'),
    h('div', { class: 'filters' }, h('div', { class: 'field' }, h('label', { for: 'promote-env' }, 'Environment'), sel), btn), out);
}

const SUB_KINDS = { ACCEPTED: 'ok', PAUSED: 'warn', CLOSED: 'idle', REVOKED: 'bad' };

function maskKey(k) {
  return k && k.length > 12 ? `${k.slice(0, 6)}…${k.slice(-4)}` : k || '—';
}

// subscriptionsCard lists the API's subscriptions and creates API keys for
// its api-key plans, as "cloudgate key create" does.
function subscriptionsCard(e, def, card) {
  const keyPlans = (def.plans || []).filter((p) => p.security && p.security.type === 'api-key');
  const out = h('div', { id: 'subscription-result' });
  const refresh = async () => {
    const subs = (await api.listSubscriptions(e.org, e.env)).filter((x) => x.api === def.id);
    const action = (sub, verb, label, danger) => h('button', { type: 'button', class: danger ? 'btn btn-small btn-danger' : 'btn btn-small',
      'data-sub-action': `${verb}:${sub.id}`,
      onclick: async () => {
        try { await api.setSubscriptionStatus(e.org, e.env, sub.id, verb); } catch (err) { out.replaceChildren(errorBox(err)); }
        await refresh();
      } }, label);
    const list = table([
      { label: 'Application', cell: (x) => x.applicationName || x.application },
      { label: 'Plan', cell: (x) => x.plan },
      { label: 'API key', cell: (x) => [h('span', { class: 'mono', title: 'Copy to see the whole key' }, maskKey(x.key)), ' ', x.key ? copyButton(() => x.key, 'Copy', `API key of ${x.applicationName || x.application}`) : null] },
      { label: 'Status', cell: (x) => h('span', { 'data-sub-status': x.id }, badge(SUB_KINDS[x.status] || 'idle', x.status)) },
      { label: '', cell: (x) => h('div', { class: 'actions' },
        x.status === 'ACCEPTED' ? action(x, 'pause', 'Pause') : null,
        x.status === 'PAUSED' ? action(x, 'accept', 'Resume') : null,
        x.status !== 'REVOKED' && x.status !== 'CLOSED' ? action(x, 'revoke', 'Revoke', true) : null) },
    ], subs, { caption: 'Subscriptions', empty: 'No subscription yet.' });
    card.replaceChildren(h('h2', {}, 'Subscriptions and API keys'), form, out, list);
  };
  const app = h('input', { id: 'sub-app', type: 'text', placeholder: 'mobile-app', autocomplete: 'off' });
  const plan = h('select', { id: 'sub-plan' }, keyPlans.map((p) => h('option', { value: p.id }, p.name || p.id)));
  const form = keyPlans.length
    ? h('form', { class: 'filters', id: 'subscribe' },
      h('div', { class: 'field' }, h('label', { for: 'sub-plan' }, 'API-key plan'), plan),
      h('div', { class: 'field' }, h('label', { for: 'sub-app' }, 'Application'), app),
      h('button', { type: 'submit', class: 'btn btn-primary', id: 'create-key' }, 'Create API key'))
    : h('p', { class: 'muted' }, 'This API has no api-key plan: clients need no key.');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    out.replaceChildren();
    try {
      const name = app.value.trim() || 'default';
      const res = await api.createSubscription(e.org, e.env, def.id, { plan: plan.value, application: name });
      out.append(h('p', { class: 'success', role: 'status' }, 'New API key for ', h('strong', {}, name), ': ',
        h('code', { id: 'new-api-key' }, res.key), ' ', copyButton(() => res.key, 'Copy', 'new API key'),
        '. Clients send it in the X-Gravitee-Api-Key header; gateways get it at their next sync.'));
      app.value = '';
    } catch (err) {
      out.append(errorBox(err));
    }
    await refresh();
  });
  return refresh;
}

async function renderDetail(ctx) {
  const [org, env, id] = ctx.params;
  const e = { org, env };
  const [envs, first] = await Promise.all([api.environments(), api.getAPI(org, env, id)]);
  const def = first.definition || {};
  const actions = h('span', { class: 'actions' });
  const statusSlot = h('dd', { id: 'api-status' });
  const gwCard = h('section', { class: 'card', id: 'api-gateways' });
  const subsCard = h('section', { class: 'card', id: 'api-subscriptions' });
  const refreshSubs = subscriptionsCard(e, def, subsCard);
  alertSlot = h('div');
  const refresh = async () => {
    const [apis, gws] = await Promise.all([api.listAPIs(org, env), api.listGateways(org, env)]);
    if (!ctx.alive()) return;
    const a = apis.find((x) => x.id === id) || { id, name: def.name, deployed: first.deployed, deployedRevision: first.deployedRevision };
    actions.replaceChildren(deployButton(e, a, refresh));
    statusSlot.replaceChildren(statusBadge(a));
    gwCard.replaceChildren(h('h2', {}, 'Gateways of this environment'),
      table([
        { label: 'Gateway', cell: (g) => [h('strong', {}, g.name || g.id), h('span', { class: 'sub mono' }, g.id)] },
        { label: 'State', cell: (g) => { const st = gatewayState(g); return badge(st.kind, st.text); } },
        { label: 'Revision applied', class: 'num', cell: (g) => String(g.revisionApplied || 0) },
        { label: 'This API', cell: (g) => gatewayRunsCell(a, g) },
      ], gws, { empty: 'No gateway in this environment yet.' }));
  };
  ctx.main.append(
    pageHead(def.name || id, `API in ${org} / ${env}`,
      h('a', { class: 'btn', href: `#/apis?env=${encodeURIComponent(`${org}/${env}`)}` }, '\u2190 All APIs'),
      actions,
      h('a', { class: 'btn', href: `#/analytics?org=${encodeURIComponent(org)}&api=${encodeURIComponent(id)}` }, 'Analytics')),
    alertSlot,
    h('section', { class: 'card' }, h('h2', {}, 'Summary'), detailSummary(def, statusSlot)),
    gwCard,
    subsCard,
    promoteForm(envs, e, def, refresh) || '',
    h('section', { class: 'card' }, h('details', {}, h('summary', {}, h('strong', {}, 'Definition (JSON)')),
      h('pre', { class: 'json' }, JSON.stringify(def, null, 2)))));
  await Promise.all([refresh(), refreshSubs()]);
  ctx.every(3000, refresh);
}

export async function render(ctx) {
  return ctx.detail ? renderDetail(ctx) : renderList(ctx);
}
