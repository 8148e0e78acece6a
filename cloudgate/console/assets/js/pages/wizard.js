// The Deploy Gateway wizard, following Gravitee's flow: Hybrid Gateway →
// Platform → Environment → Access Point → Generate Installation Details →
// verify. The state lives in this module while the page is open; generating
// the details creates the gateway, its Cloud Token and its license on the gate.
import * as api from '../api.js';
import { h, pageHead, errorBox, badge, announce, clearError } from '../dom.js';
import { envKey, rememberEnv, gatewayState } from '../model.js';
import { installation, verifyCommand } from './install.js';

const STEPS = ['Gateway type', 'Platform', 'Environment', 'Access point', 'Installation details', 'Verify'];
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

const PLATFORMS = [
  { id: 'appliance', title: 'Appliance image', text: 'Flash an x86-64 mini PC or a Raspberry Pi 4/5 once; it provisions itself from a USB stick.' },
  { id: 'docker', title: 'Docker', text: 'Run the gateway container on any Docker host.' },
  { id: 'linux', title: 'Linux binary', text: 'Run edgegate as a systemd service on a Linux server.' },
];

function newState(query) {
  return {
    step: 0, type: 'hybrid', platform: '', envMode: 'existing', envSel: query.get('env') || '',
    org: '', env: '', name: '', accessPoints: [''], allowHTTP: false, result: null, errors: {},
  };
}

/** checkAccessPoint says what is wrong with one access point URL, or "". */
export function checkAccessPoint(raw, allowHTTP) {
  const v = raw.trim();
  if (!v) return 'Enter the URL clients will use to reach this gateway, for example https://api.branch-1.example.com.';
  let u;
  try { u = new URL(v); } catch { return `"${v}" is not a URL. Write it as https://host or https://host:port.`; }
  if (u.protocol === 'http:' && !allowHTTP) return 'Access points must use HTTPS: write https://… (or allow plain HTTP below, for a lab).';
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return `Use an https:// URL, not ${u.protocol}//.`;
  if (!u.hostname) return 'The URL needs a host name.';
  if ((u.pathname && u.pathname !== '/') || u.search || u.hash) return 'An access point is a scheme, a host and a port only: remove the path.';
  return '';
}

const normalize = (v) => new URL(v.trim()).origin;

function stepList(st) {
  return h('ol', { class: 'steps', 'aria-label': 'Steps' }, STEPS.map((name, i) => h('li', {
    class: i < st.step ? 'done' : null, 'aria-current': i === st.step ? 'step' : null,
  }, name)));
}

function choice(name, value, checked, title, text, onPick, disabled) {
  const input = h('input', { type: 'radio', name, value, checked, disabled, onchange: () => onPick(value) });
  return h('label', { class: 'choice' + (disabled ? ' disabled' : ''), 'data-choice': value },
    input, h('strong', {}, title), h('span', {}, text));
}

function stepType(st, redraw) {
  return h('div', {},
    h('h2', {}, 'Deploy Gateway'),
    h('fieldset', { class: 'choices' },
      h('legend', {}, 'Which kind of gateway?'),
      choice('type', 'hybrid', st.type === 'hybrid', 'Hybrid Gateway',
        'You run the gateway at your site; this Cloud Gate manages its APIs and collects its analytics.', (v) => { st.type = v; redraw(); }),
      choice('type', 'hosted', false, 'Hosted Gateway', 'Not offered by a self-hosted Cloud Gate.', () => {}, true)));
}

function stepPlatform(st, redraw) {
  return h('div', {},
    h('h2', {}, 'Platform'),
    h('fieldset', { class: 'choices', 'aria-describedby': st.errors.platform ? 'platform-error' : null },
      h('legend', {}, 'Where will the gateway run?'),
      PLATFORMS.map((p) => choice('platform', p.id, st.platform === p.id, p.title, p.text, (v) => { st.platform = v; st.errors = {}; redraw(); }))),
    st.errors.platform ? errorBox({ message: st.errors.platform }, 'platform-error') : null);
}

function inputField(id, label, value, onInput, { hint, error, placeholder } = {}) {
  const input = h('input', { id, type: 'text', value, placeholder, autocomplete: 'off', spellcheck: 'false',
    'aria-invalid': error ? 'true' : null, 'aria-describedby': [hint ? `${id}-hint` : '', error ? `${id}-error` : ''].join(' ').trim() || null,
    oninput: (e) => { onInput(e.target.value); clearError(e.target); } });
  return h('div', { class: 'field' }, h('label', { for: id }, label), input,
    hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null,
    error ? errorBox({ message: error }, `${id}-error`) : null);
}

function stepEnvironment(st, envs, redraw) {
  if (!envs.length) st.envMode = 'new';
  const existing = h('select', { id: 'env-select', onchange: (e) => { st.envSel = e.target.value; } },
    envs.map((e) => h('option', { value: envKey(e), selected: envKey(e) === st.envSel }, `${e.org} / ${e.env}`)));
  if (!envs.some((e) => envKey(e) === st.envSel) && envs.length) st.envSel = envKey(envs[0]);
  return h('div', {},
    h('h2', {}, 'Environment'),
    h('p', { class: 'muted' }, 'The gateway serves the APIs deployed to one environment of one organization.'),
    h('fieldset', { class: 'choices' },
      h('legend', {}, 'Environment'),
      choice('envMode', 'existing', st.envMode === 'existing', 'Existing environment',
        envs.length ? `${envs.length} available` : 'None yet', (v) => { st.envMode = v; st.errors = {}; redraw(); }, !envs.length),
      choice('envMode', 'new', st.envMode === 'new', 'New environment', 'Creates the organization and the environment.', (v) => { st.envMode = v; st.errors = {}; redraw(); })),
    st.envMode === 'existing'
      ? h('div', { class: 'field' }, h('label', { for: 'env-select' }, 'Environment'), existing)
      : h('div', { class: 'grid' },
        inputField('org', 'Organization', st.org, (v) => { st.org = v; delete st.errors.org; }, { hint: 'Letters, digits, - and _. For example: acme', error: st.errors.org, placeholder: 'acme' }),
        inputField('env', 'Environment', st.env, (v) => { st.env = v; delete st.errors.env; }, { hint: 'For example: prod, staging, branch-paris', error: st.errors.env, placeholder: 'prod' })));
}

function stepAccessPoint(st, redraw) {
  const rows = st.accessPoints.map((v, i) => {
    const id = `ap-${i}`;
    const err = st.errors[id];
    const input = h('input', { id, type: 'url', value: v, placeholder: 'https://api.branch-1.example.com', autocomplete: 'off',
      'aria-invalid': err ? 'true' : null, 'aria-describedby': err ? `${id}-error` : 'ap-hint',
      oninput: (e) => { st.accessPoints[i] = e.target.value; delete st.errors[id]; clearError(e.target); } });
    const remove = st.accessPoints.length > 1
      ? h('button', { type: 'button', class: 'btn btn-small', 'aria-label': `Remove access point ${i + 1}`, onclick: () => { st.accessPoints.splice(i, 1); st.errors = {}; redraw(); } }, 'Remove')
      : null;
    return h('div', { class: 'field' },
      h('label', { for: id }, `Access point ${st.accessPoints.length > 1 ? i + 1 : ''}`.trim()),
      h('div', { class: 'row' }, input, remove),
      err ? errorBox({ message: err }, `${id}-error`) : null);
  });
  return h('div', {},
    h('h2', {}, 'Access point'),
    h('p', { class: 'muted', id: 'ap-hint' }, 'The URL clients use to reach this gateway: the host name (and port) of its entrypoint. A gateway can have several.'),
    rows,
    h('p', {}, h('button', { type: 'button', class: 'btn btn-small', id: 'add-ap', onclick: () => { st.accessPoints.push(''); redraw(); } }, '+ Add another host')),
    h('label', { class: 'check' },
      h('input', { type: 'checkbox', id: 'allow-http', checked: st.allowHTTP, onchange: (e) => { st.allowHTTP = e.target.checked; st.errors = {}; redraw(); } }),
      h('span', {}, 'Allow plain HTTP access points (only for a lab: clients\u2019 traffic would not be encrypted)')),
    inputField('gw-name', 'Gateway name (optional)', st.name, (v) => { st.name = v; },
      { hint: 'How the gateway is listed. Defaults to the first access point\u2019s host.', placeholder: 'branch-paris-1' }));
}

function chosenEnv(st) {
  if (st.envMode === 'new') return { org: st.org.trim(), env: st.env.trim() };
  const [org, env] = st.envSel.split('/');
  return { org, env };
}

function summaryList(st) {
  const e = chosenEnv(st);
  const p = PLATFORMS.find((x) => x.id === st.platform);
  return h('dl', { class: 'summary' },
    h('dt', {}, 'Gateway'), h('dd', {}, 'Hybrid'),
    h('dt', {}, 'Platform'), h('dd', {}, p ? p.title : '—'),
    h('dt', {}, 'Environment'), h('dd', {}, `${e.org} / ${e.env}`, st.envMode === 'new' ? ' (new)' : ''),
    h('dt', {}, 'Access points'), h('dd', {}, st.accessPoints.map((a) => h('span', { class: 'tag' }, a))),
    h('dt', {}, 'Name'), h('dd', {}, gatewayName(st)));
}

const gatewayName = (st) => st.name.trim() || new URL(st.accessPoints[0]).hostname;

function stepGenerate(st, redraw) {
  if (st.result) {
    return h('div', {},
      h('h2', {}, 'Installation details'),
      h('p', { class: 'success', role: 'status' }, `Gateway "${st.result.gateway.name || st.result.gateway.id}" is configured. Start it with these details; they are shown only now.`),
      installation(st.platform, st.result, chosenEnv(st)));
  }
  const btn = h('button', { type: 'button', class: 'btn btn-primary', id: 'generate' }, 'Generate Installation Details');
  const errSlot = h('div');
  btn.addEventListener('click', async () => {
    btn.disabled = true;
    btn.textContent = 'Generating…';
    errSlot.replaceChildren();
    const e = chosenEnv(st);
    try {
      if (st.envMode === 'new') await api.createEnv(e.org, e.env);
      st.result = await api.createGateway(e.org, e.env, { name: gatewayName(st), accessPoints: st.accessPoints });
      rememberEnv(e);
      announce('Installation details generated');
      redraw();
    } catch (err) {
      errSlot.append(errorBox(err));
      btn.disabled = false;
      btn.textContent = 'Generate Installation Details';
    }
  });
  return h('div', {},
    h('h2', {}, 'Generate installation details'),
    h('p', { class: 'muted' }, 'This registers the gateway and issues its Cloud Token (which names this Cloud Gate and pins its certificate authority) and its license.'),
    summaryList(st), errSlot, btn);
}

function stepVerify(st, ctx) {
  const gw = st.result.gateway;
  const status = h('span', { id: 'verify-status', role: 'status' }, badge('idle', 'Configured'), ' waiting for the gateway to connect…');
  const poll = async () => {
    const e = chosenEnv(st);
    const list = await api.listGateways(e.org, e.env);
    const g = list.find((x) => x.id === gw.id);
    if (!g || !ctx.alive()) return;
    const s = gatewayState(g);
    status.replaceChildren(badge(s.kind, s.text), ' ', s.text === 'Online'
      ? `Connected: version ${g.version || '?'}, configuration revision ${g.revisionApplied}.`
      : s.detail);
  };
  ctx.every(2000, poll);
  poll().catch(() => {});
  return h('div', {},
    h('h2', {}, 'Verify the gateway'),
    h('ol', { class: 'howto' },
      h('li', {}, 'Start the gateway with the installation details of the previous step.'),
      h('li', {}, 'Watch it connect: ', status),
      h('li', {}, 'GET the access point\u2019s root. Unless an API is deployed at /, the gateway answers 404 with:',
        h('pre', { class: 'json', id: 'expected-answer' }, 'No context-path matches the request URI.'),
        verifyCommand(st.result.gateway.accessPoints || st.accessPoints)),
      h('li', {}, 'Then import and deploy an API on the ', h('a', { href: '#/apis' }, 'APIs'), ' page.')));
}

function validate(st, envs) {
  const errs = {};
  if (st.step === 1 && !st.platform) errs.platform = 'Choose where the gateway will run.';
  if (st.step === 2 && st.envMode === 'new') {
    if (!ID_RE.test(st.org.trim())) errs.org = 'Enter an organization id: letters, digits, - and _ (up to 64).';
    if (!ID_RE.test(st.env.trim())) errs.env = 'Enter an environment id: letters, digits, - and _ (up to 64).';
  }
  if (st.step === 2 && st.envMode === 'existing' && !envs.some((e) => envKey(e) === st.envSel)) errs.org = 'Choose an environment.';
  if (st.step === 3) {
    const seen = new Set();
    st.accessPoints.forEach((v, i) => {
      let msg = checkAccessPoint(v, st.allowHTTP);
      if (!msg) {
        const n = normalize(v);
        if (seen.has(n)) msg = 'This access point is listed twice.';
        seen.add(n);
      }
      if (msg) errs[`ap-${i}`] = msg;
    });
    if (!Object.keys(errs).length) st.accessPoints = st.accessPoints.map(normalize);
  }
  st.errors = errs;
  return Object.keys(errs).length === 0;
}

function navButtons(st, envs, redraw, ctx) {
  const back = h('button', { type: 'button', class: 'btn', id: 'wizard-back', disabled: st.step === 0 || !!st.result,
    onclick: () => { st.step -= 1; st.errors = {}; redraw(); } }, 'Back');
  let next;
  if (st.step === STEPS.length - 1) {
    next = h('a', { class: 'btn btn-primary', href: '#/overview', id: 'wizard-finish' }, 'Return to Overview');
  } else {
    next = h('button', { type: 'button', class: 'btn btn-primary', id: 'wizard-next', disabled: st.step === 4 && !st.result,
      onclick: () => {
        if (!validate(st, envs)) { redraw(); return; }
        st.step += 1;
        redraw();
      } }, st.step === 4 ? 'Next: verify' : 'Next');
  }
  return h('div', { class: 'wizard-nav' }, back, next);
}

// focusedKey names the focused control so a redraw can give focus back to it.
function focusedKey(root) {
  const a = document.activeElement;
  if (!a || !root.contains(a)) return '';
  if (a.id) return '#' + CSS.escape(a.id);
  if (a.name) return `[name="${CSS.escape(a.name)}"][value="${CSS.escape(a.value)}"]`;
  return '';
}

function focusFirstError(root) {
  const bad = root.querySelector('[aria-invalid="true"], fieldset[aria-describedby] input');
  if (bad) bad.focus();
}

export async function render(ctx) {
  const st = newState(ctx.query);
  const envs = await api.environments();
  if (!envs.length) st.envMode = 'new';
  const panel = h('section', { class: 'card', id: 'wizard' });
  let shown = -1;
  const redraw = () => {
    const steps = [() => stepType(st, redraw), () => stepPlatform(st, redraw), () => stepEnvironment(st, envs, redraw),
      () => stepAccessPoint(st, redraw), () => stepGenerate(st, redraw), () => stepVerify(st, ctx)];
    const focusKey = focusedKey(panel);
    panel.dataset.step = STEPS[st.step];
    panel.replaceChildren(stepList(st), steps[st.step](), navButtons(st, envs, redraw, ctx));
    if (shown !== st.step) {
      // A new step: move focus to its heading so keyboard and screen-reader users start there.
      const h2 = panel.querySelector('h2');
      h2.setAttribute('tabindex', '-1');
      if (shown !== -1) h2.focus();
      shown = st.step;
    } else if (Object.keys(st.errors).length) {
      focusFirstError(panel);
    } else if (focusKey) {
      const el = panel.querySelector(focusKey);
      if (el) el.focus();
    }
  };
  ctx.main.append(pageHead('Deploy Gateway', 'Set up a hybrid gateway in a few steps.'), panel);
  redraw();
}
