// The management API client. The console talks to nothing else: every call
// goes to /management/v1 on the origin that served the console, with the
// admin credential as a Bearer token.

const TOKEN_KEY = 'edgegate.adminToken';
const TIMEOUT_MS = 20000;

/** APIError is a failed management API call: HTTP status, message, field. */
export class APIError extends Error {
  constructor(status, message, field) {
    super(message);
    this.status = status;
    this.field = field || '';
  }
}

export function credential() { return sessionStorage.getItem(TOKEN_KEY) || ''; }
export function setCredential(t) { sessionStorage.setItem(TOKEN_KEY, t); }
export function clearCredential() { sessionStorage.removeItem(TOKEN_KEY); }

let onUnauthorized = () => {};
/** setUnauthorizedHandler is called when the gate refuses the credential. */
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

const seg = (s) => encodeURIComponent(s);
const envPath = (org, env) => `/orgs/${seg(org)}/envs/${seg(env)}`;

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? '?' + s : '';
}

/** request calls the management API and returns the decoded JSON (null for 204). */
export async function request(method, path, body, cred = credential()) {
  const headers = { Accept: 'application/json', Authorization: 'Bearer ' + cred };
  let payload;
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), TIMEOUT_MS);
  let resp;
  try {
    resp = await fetch('/management/v1' + path, { method, headers, body: payload, signal: ctrl.signal, cache: 'no-store' });
  } catch (e) {
    const why = e.name === 'AbortError' ? `no answer within ${TIMEOUT_MS / 1000} s` : e.message;
    throw new APIError(0, `Cannot reach the Cloud Gate (${why}). Check that "cloudgate serve" is running.`);
  } finally {
    clearTimeout(timer);
  }
  const text = await resp.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!resp.ok) {
    const msg = (data && data.message) || text.trim() || `${resp.status} ${resp.statusText}`;
    const err = new APIError(resp.status, msg, data && data.field);
    if (resp.status === 401 && cred === credential()) onUnauthorized(err);
    throw err;
  }
  return data;
}

const get = (p) => request('GET', p);
const post = (p, b) => request('POST', p, b === undefined ? {} : b);

/** checkCredential asks the gate whether cred is the admin credential. */
export const checkCredential = (cred) => request('GET', '/orgs', undefined, cred);

export const listOrgs = () => get('/orgs').then((x) => x || []);
export const createEnv = (org, env) => post(envPath(org, env));
export const listGateways = (org, env) => get(envPath(org, env) + '/gateways').then((x) => x || []);
export const createGateway = (org, env, body) => post(envPath(org, env) + '/gateways', body);
export const listTokens = (org, env) => get(envPath(org, env) + '/tokens').then((x) => x || []);
export const revokeToken = (org, env, jti) => post(`${envPath(org, env)}/tokens/${seg(jti)}/revoke`);
export const listAPIs = (org, env) => get(envPath(org, env) + '/apis').then((x) => x || []);
export const importAPI = (org, env, definitionText) => request('POST', envPath(org, env) + '/apis', definitionText);
export const getAPI = (org, env, id) => get(`${envPath(org, env)}/apis/${seg(id)}`);
export const deployAPI = (org, env, id) => post(`${envPath(org, env)}/apis/${seg(id)}/deploy`);
export const undeployAPI = (org, env, id) => post(`${envPath(org, env)}/apis/${seg(id)}/undeploy`);
export const listSubscriptions = (org, env) => get(envPath(org, env) + '/subscriptions').then((x) => x || []);
export const createSubscription = (org, env, apiID, body) => post(`${envPath(org, env)}/apis/${seg(apiID)}/subscriptions`, body);
/** setSubscriptionStatus applies action: accept, pause, close or revoke. */
export const setSubscriptionStatus = (org, env, id, action) => post(`${envPath(org, env)}/subscriptions/${seg(id)}/${seg(action)}`);
export const analyticsStats = (org, params) => get(`/orgs/${seg(org)}/analytics/stats` + query(params));
export const analyticsRecords = (org, params) => get(`/orgs/${seg(org)}/analytics/records` + query(params)).then((x) => x || []);

/** environments flattens the orgs listing into [{org, env, revision}]. */
export async function environments() {
  const orgs = await listOrgs();
  return orgs.flatMap((o) => (o.environments || []).map((e) => ({ org: o.id, env: e.id, revision: e.revision || 0 })));
}
