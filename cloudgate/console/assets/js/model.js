// Shared views of the gate's objects: gateway state, the environment picker,
// the gateways table.
import { h, badge, table, fmtAgo, fmtTime, fmtNum, toDate } from './dom.js';

const ENV_KEY = 'edgegate.env';

/** envKey names an environment as "org/env". */
export const envKey = (e) => `${e.org}/${e.env}`;

/** currentEnv picks the remembered environment, or the first one. */
export function currentEnv(envs, wanted) {
  const key = wanted || sessionStorage.getItem(ENV_KEY);
  return envs.find((e) => envKey(e) === key) || envs[0] || null;
}

/** rememberEnv keeps the operator's environment choice for the session. */
export function rememberEnv(e) {
  if (e) sessionStorage.setItem(ENV_KEY, envKey(e));
}

/** envPicker is a labelled select of environments. */
export function envPicker(envs, current, onChange, id = 'env-picker') {
  const sel = h('select', { id, onchange: () => {
    const e = envs.find((x) => envKey(x) === sel.value);
    rememberEnv(e);
    onChange(e);
  } }, envs.map((e) => h('option', { value: envKey(e), selected: current && envKey(e) === envKey(current) }, `${e.org} / ${e.env}`)));
  return h('div', { class: 'field' }, h('label', { for: id }, 'Environment'), sel);
}

/** gatewayState reads a gateway's heartbeat fields into a badge. */
export function gatewayState(g) {
  if (g.revoked) {
    return { kind: 'bad', text: 'Refused', detail: 'token revoked: the gate refuses its sync and reports' };
  }
  if (g.online) return { kind: 'ok', text: 'Online', detail: '' };
  if (!toDate(g.lastSeen)) return { kind: 'idle', text: 'Configured', detail: 'waiting for its first connection' };
  return { kind: 'warn', text: 'Offline', detail: `last seen ${fmtAgo(g.lastSeen)}` };
}

function revisionCell(g) {
  const applied = Number(g.revisionApplied || 0);
  const latest = Number(g.latestRevision || 0);
  if (!toDate(g.lastSeen)) return h('span', { class: 'muted' }, `— / ${latest}`);
  if (g.revoked) return h('span', { class: 'nowrap' }, `${applied} / ${latest}`);
  const behind = applied < latest;
  return h('span', { class: 'nowrap' }, `${applied} / ${latest} `,
    behind ? badge('warn', 'behind') : badge('ok', 'current'));
}

function accessPoints(g) {
  return (g.accessPoints || []).map((u) => h('span', { class: 'tag' }, u));
}

/** gatewaysTable lists gateways with their state from the heartbeats. */
export function gatewaysTable(gateways, caption) {
  return table([
    { label: 'Gateway', cell: (g) => [
      h('a', { href: `#/analytics?org=${encodeURIComponent(g.org || '')}&gateway=${encodeURIComponent(g.id)}`, title: 'Analytics of this gateway' }, h('strong', {}, g.name || g.id)),
      h('span', { class: 'sub mono' }, g.id)] },
    { label: 'State', cell: (g) => {
      const st = gatewayState(g);
      return [h('span', { 'data-gateway-state': g.id }, badge(st.kind, st.text)), st.detail ? h('span', { class: 'sub' }, st.detail) : null];
    } },
    { label: 'Version', cell: (g) => [g.version || '—', g.hostname ? h('span', { class: 'sub' }, g.hostname) : null] },
    { label: 'Access points', cell: accessPoints },
    { label: 'Revision applied / latest', cell: revisionCell },
    { label: 'Last seen', cell: (g) => h('span', { class: 'nowrap', title: fmtTime(g.lastSeen) }, fmtAgo(g.lastSeen)) },
    { label: 'Spooled reports', class: 'num', cell: (g) => [fmtNum(g.spooled),
      g.dropped ? h('span', { class: 'sub', title: 'records the gateway had to drop because its spool was full' }, `${fmtNum(g.dropped)} dropped`) : null] },
  ], gateways, { caption, empty: 'No gateway yet in this environment.' });
}
