// Gateways: every gateway of every environment, and the way into the Deploy
// Gateway wizard (Gravitee's "Gateways → Deploy Gateway").
import { h, pageHead } from '../dom.js';
import { gatewaysTable } from '../model.js';
import { loadEnvironments } from './overview.js';

export async function render(ctx) {
  const body = h('div', { id: 'gateways' });
  ctx.main.append(
    pageHead('Gateways', 'Hybrid gateways run at your sites and take their configuration from this Cloud Gate.',
      h('a', { class: 'btn btn-primary', href: '#/gateways/deploy', id: 'deploy-gateway' }, 'Deploy Gateway')),
    body);
  const draw = async () => {
    const envs = await loadEnvironments();
    if (!ctx.alive()) return;
    if (!envs.length) {
      body.replaceChildren(h('div', { class: 'card empty' },
        h('h2', {}, 'No gateway yet'),
        h('p', {}, 'Deploy Gateway walks you through the platform, the environment and the access point, then gives you the Cloud Token and the license to start it with.'),
        h('a', { class: 'btn btn-primary', href: '#/gateways/deploy' }, 'Deploy Gateway')));
      return;
    }
    body.replaceChildren(...envs.map((e) => h('section', { class: 'card' },
      h('div', { class: 'card-head' }, h('h2', {}, `${e.org} / ${e.env}`),
        h('a', { class: 'btn btn-small', href: `#/gateways/deploy?env=${encodeURIComponent(`${e.org}/${e.env}`)}` }, 'Deploy Gateway here')),
      gatewaysTable(e.gateways, `Gateways of ${e.org} / ${e.env}`))));
  };
  await draw();
  ctx.every(2000, draw);
}
