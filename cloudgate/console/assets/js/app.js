// The console's shell: sign-in, navigation and hash routing. Each page is a
// module whose render(ctx) fills ctx.main; ctx.every runs a refresh loop that
// stops when the operator leaves the page.
import * as api from './api.js';
import { errorBox, announce } from './dom.js';
import * as overview from './pages/overview.js';
import * as gateways from './pages/gateways.js';
import * as wizard from './pages/wizard.js';
import * as apis from './pages/apis.js';
import * as analytics from './pages/analytics.js';
import * as tokens from './pages/tokens.js';
import * as login from './pages/login.js';

const routes = [
  { re: /^\/login$/, page: login, nav: '', public: true },
  { re: /^\/overview$/, page: overview, nav: 'overview' },
  { re: /^\/gateways$/, page: gateways, nav: 'gateways' },
  { re: /^\/gateways\/deploy$/, page: wizard, nav: 'gateways' },
  { re: /^\/apis$/, page: apis, nav: 'apis' },
  { re: /^\/apis\/([^/]+)\/([^/]+)\/([^/]+)$/, page: apis, nav: 'apis', detail: true },
  { re: /^\/analytics$/, page: analytics, nav: 'analytics' },
  { re: /^\/tokens$/, page: tokens, nav: 'tokens' },
];

let current = null; // the page being shown: {stop()}

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/overview';
  const [path, qs] = raw.split('?');
  return { path, query: new URLSearchParams(qs || '') };
}

function setNav(active, signedIn) {
  document.getElementById('nav').hidden = !signedIn;
  document.getElementById('logout').hidden = !signedIn;
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === active) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

// connection shows (or, with null, hides) a banner saying the page's refresh
// failed; the page keeps what it showed last and retries.
function connection(err, ms) {
  const el = document.getElementById('conn');
  if (!err) { el.hidden = true; return; }
  el.textContent = `${err.message} The page shows what it got last and retries every ${ms / 1000} s.`;
  el.hidden = false;
}

function makeContext(main, match, query) {
  const timers = [];
  let alive = true;
  return {
    main,
    params: match.slice(1).map(decodeURIComponent),
    query,
    alive: () => alive,
    go: (hash) => { location.hash = hash; },
    // every runs fn now and then every ms while the page is shown; errors are shown once, not thrown.
    every(ms, fn) {
      const tick = async () => {
        if (!alive) return;
        try {
          await fn();
          connection(null);
        } catch (e) {
          if (e.status !== 401) connection(e, ms);
        }
        if (alive) timers.push(setTimeout(tick, ms));
      };
      timers.push(setTimeout(tick, ms));
    },
    stop() { alive = false; timers.forEach(clearTimeout); },
  };
}

async function route() {
  const { path, query } = parseHash();
  const r = routes.find((x) => x.re.test(path));
  if (!r) { location.hash = '#/overview'; return; }
  const signedIn = api.credential() !== '';
  if (!r.public && !signedIn) { location.hash = '#/login'; return; }
  if (current) current.stop();
  connection(null);
  const main = document.getElementById('main');
  main.replaceChildren();
  setNav(r.nav, signedIn);
  const ctx = makeContext(main, path.match(r.re), query);
  ctx.detail = !!r.detail;
  current = ctx;
  try {
    await r.page.render(ctx);
  } catch (e) {
    if (e.status === 401) return;
    if (current === ctx) main.append(errorBox(e));
  }
  if (current === ctx) {
    const h1 = main.querySelector('h1');
    document.title = (h1 ? h1.textContent + ' · ' : '') + 'edgegate Cloud console';
  }
}

function signOut(message) {
  api.clearCredential();
  sessionStorage.setItem('edgegate.flash', message || '');
  if (location.hash === '#/login') route(); else location.hash = '#/login';
}

api.setUnauthorizedHandler(() => signOut('The Cloud Gate refused the admin credential. Sign in again with the content of DIR/admin-token.'));

document.getElementById('logout').addEventListener('click', () => {
  signOut('You are signed out.');
  announce('Signed out');
});
window.addEventListener('hashchange', route);
route();

