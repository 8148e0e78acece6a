// Tokens: the Cloud Tokens issued in each environment, and revocation. A
// revoked token's gateway is refused at its next sync.
import * as api from '../api.js';
import { h, pageHead, badge, table, fmtTime, toDate, confirmDialog, errorBox, announce } from '../dom.js';
import { gatewayState } from '../model.js';

function tokenState(t) {
  if (t.revoked) {
    const at = toDate(t.revokedAt);
    return [badge('bad', 'Revoked'), at ? h('span', { class: 'sub' }, `at ${fmtTime(at)}`) : null];
  }
  const exp = toDate(t.expiresAt);
  if (exp && exp.getTime() < Date.now()) return badge('warn', 'Expired');
  return badge('ok', 'Active');
}

async function revoke(e, t, gwName, after, alertSlot) {
  const ok = await confirmDialog({
    title: 'Revoke this Cloud Token?',
    body: `Gateway "${gwName}" will be refused at its next sync and can no longer report. It keeps serving its last configuration until it is given a new token. This cannot be undone.`,
    confirm: 'Revoke token',
    danger: true,
  });
  if (!ok) return;
  try {
    await api.revokeToken(e.org, e.env, t.id);
    announce(`Token of ${gwName} revoked`);
  } catch (err) {
    alertSlot.replaceChildren(errorBox(err));
  }
  await after();
}

function envSection(e, tokens, gws, after, alertSlot) {
  const byId = new Map(gws.map((g) => [g.id, g]));
  const name = (t) => { const g = byId.get(t.gatewayId); return (g && (g.name || g.id)) || t.gatewayId || '—'; };
  return h('section', { class: 'card' },
    h('h2', {}, `${e.org} / ${e.env}`),
    table([
      { label: 'Token id (jti)', cell: (t) => h('span', { class: 'mono' }, t.id) },
      { label: 'Gateway', cell: (t) => {
        const g = byId.get(t.gatewayId);
        const st = g ? gatewayState(g) : null;
        return [h('strong', {}, name(t)), st ? h('span', { class: 'sub' }, badge(st.kind, st.text)) : null];
      } },
      { label: 'Issued', cell: (t) => h('span', { class: 'nowrap' }, fmtTime(t.issuedAt)) },
      { label: 'Expires', cell: (t) => h('span', { class: 'nowrap' }, fmtTime(t.expiresAt)) },
      { label: 'Status', cell: (t) => h('span', { 'data-token-status': t.id }, tokenState(t)) },
      { label: '', cell: (t) => (t.revoked ? '' : h('button', {
        type: 'button', class: 'btn btn-small btn-danger', 'data-revoke': t.id, 'aria-label': `Revoke the token of ${name(t)}`,
        onclick: () => revoke(e, t, name(t), after, alertSlot),
      }, 'Revoke')) },
    ], tokens, { caption: `Cloud Tokens of ${e.org} / ${e.env}`, empty: 'No token issued here yet.' }));
}

export async function render(ctx) {
  const alertSlot = h('div');
  const body = h('div', { id: 'tokens' });
  ctx.main.append(pageHead('Cloud Tokens', 'Each gateway authenticates with its Cloud Token. Revoke a token when a gateway is lost, stolen or retired.'), alertSlot, body);
  const draw = async () => {
    const envs = await api.environments();
    const parts = await Promise.all(envs.map(async (e) => {
      const [tokens, gws] = await Promise.all([api.listTokens(e.org, e.env), api.listGateways(e.org, e.env)]);
      return { e, tokens, gws };
    }));
    if (!ctx.alive()) return;
    if (!parts.length) {
      body.replaceChildren(h('div', { class: 'card empty' }, h('h2', {}, 'No token yet'),
        h('p', {}, 'Tokens are issued by Deploy Gateway.'), h('a', { class: 'btn btn-primary', href: '#/gateways/deploy' }, 'Deploy Gateway')));
      return;
    }
    body.replaceChildren(...parts.map((p) => envSection(p.e, p.tokens, p.gws, draw, alertSlot)));
  };
  await draw();
  ctx.every(5000, async () => { if (!document.querySelector('dialog[open]')) await draw(); });
}
