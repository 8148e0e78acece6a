// Overview: every environment, its gateways with their heartbeat state, and
// the APIs deployed there. Refreshes every few seconds so a new gateway is
// seen turning online.
import * as api from '../api.js';
import { h, pageHead, fmtNum } from '../dom.js';
import { gatewaysTable, gatewayState } from '../model.js';

const REFRESH_MS = 2000;

/** loadEnvironments fetches every environment with its gateways and APIs. */
export async function loadEnvironments() {
  const envs = await api.environments();
  return Promise.all(envs.map(async (e) => {
    const [gws, apis] = await Promise.all([api.listGateways(e.org, e.env), api.listAPIs(e.org, e.env)]);
    return { ...e, gateways: gws, apis };
  }));
}

function summary(envs) {
  const gws = envs.flatMap((e) => e.gateways);
  const online = gws.filter((g) => gatewayState(g).text === 'Online').length;
  const deployed = envs.flatMap((e) => e.apis).filter((a) => a.deployed).length;
  const stat = (label, value, id) => h('div', { class: 'stat' }, h('div', { class: 'label' }, label), h('div', { class: 'value', id }, value));
  return h('div', { class: 'stats' },
    stat('Environments', fmtNum(envs.length), 'stat-envs'),
    stat('Gateways online', `${online} / ${gws.length}`, 'stat-online'),
    stat('APIs deployed', fmtNum(deployed), 'stat-apis'));
}

function apisList(e) {
  const deployed = e.apis.filter((a) => a.deployed);
  if (!deployed.length) {
    return h('p', { class: 'muted' }, 'No API deployed here yet. ', h('a', { href: `#/apis?env=${encodeURIComponent(`${e.org}/${e.env}`)}` }, 'Import and deploy one'), '.');
  }
  return h('ul', { class: 'plain' }, deployed.map((a) => h('li', {},
    h('a', { href: `#/apis/${encodeURIComponent(e.org)}/${encodeURIComponent(e.env)}/${encodeURIComponent(a.id)}` }, a.name || a.id), ' ',
    (a.contextPaths || []).map((p) => h('span', { class: 'tag' }, p)), ' ',
    h('span', { class: 'muted small' }, `revision ${a.deployedRevision}`))));
}

function envCard(e) {
  const deployHref = `#/gateways/deploy?env=${encodeURIComponent(`${e.org}/${e.env}`)}`;
  return h('section', { class: 'card', 'aria-labelledby': `env-${e.org}-${e.env}` },
    h('div', { class: 'card-head' },
      h('h2', { id: `env-${e.org}-${e.env}` }, `${e.org} / ${e.env}`, ' ', h('span', { class: 'muted small' }, `configuration revision ${e.revision}`)),
      h('a', { class: 'btn btn-small', href: deployHref }, 'Deploy Gateway')),
    h('h3', {}, 'Gateways'),
    gatewaysTable(e.gateways, `Gateways of ${e.org} / ${e.env}`),
    h('h3', { style: 'margin-top:1rem' }, 'APIs deployed'),
    apisList(e));
}

function emptyState() {
  return h('div', { class: 'card empty' },
    h('h2', {}, 'Deploy your first hybrid gateway'),
    h('p', {}, 'A gateway runs at your site (appliance, Docker or Linux) and gets its APIs from this Cloud Gate. The wizard creates the environment, the Cloud Token and the license.'),
    h('a', { class: 'btn btn-primary', href: '#/gateways/deploy' }, 'Deploy Gateway'));
}

export async function render(ctx) {
  const body = h('div', { id: 'overview' });
  ctx.main.append(
    pageHead('Overview', 'Your environments, their gateways and the APIs they serve.',
      h('a', { class: 'btn btn-primary', href: '#/gateways/deploy' }, 'Deploy Gateway')),
    body);
  const draw = async () => {
    const envs = await loadEnvironments();
    if (!ctx.alive()) return;
    body.replaceChildren(
      envs.length ? summary(envs) : emptyState(),
      ...envs.map(envCard),
      h('p', { class: 'muted small' }, `Updated ${new Date().toLocaleTimeString()} · refreshes every ${REFRESH_MS / 1000} s`));
  };
  await draw();
  ctx.every(REFRESH_MS, draw);
}

