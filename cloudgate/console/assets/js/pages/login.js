// Sign-in: the operator pastes the admin credential (DIR/admin-token). It is
// checked against the gate, then kept in sessionStorage for this tab only.
import * as api from '../api.js';
import { h, errorBox } from '../dom.js';

export async function render(ctx) {
  const flash = sessionStorage.getItem('edgegate.flash');
  sessionStorage.removeItem('edgegate.flash');
  const input = h('input', {
    id: 'admin-token', name: 'admin-token', type: 'password', required: true, autocomplete: 'current-password', spellcheck: 'false',
    'aria-describedby': 'admin-token-hint', placeholder: 'Paste the admin credential',
  });
  // A hidden user name lets password managers file the credential under this gate.
  const user = h('input', { type: 'text', name: 'username', autocomplete: 'username', value: 'admin', hidden: true });
  const errSlot = h('div', { id: 'login-error' });
  const submit = h('button', { class: 'btn btn-primary', type: 'submit' }, 'Sign in');
  const form = h('form', { class: 'card login', novalidate: true },
    h('h1', {}, 'Sign in'),
    h('p', { class: 'muted' }, 'Manage your hybrid gateways, APIs and analytics.'),
    flash ? h('p', { class: 'notice', role: 'status' }, flash) : null,
    user,
    h('div', { class: 'field' },
      h('label', { for: 'admin-token' }, 'Admin credential'),
      input,
      h('p', { class: 'hint', id: 'admin-token-hint' },
        '"cloudgate serve" wrote it on first start to ', h('code', {}, 'DIR/admin-token'),
        ' (', h('code', {}, '.demo/cloudgate/admin-token'), ' with make demo). It stays in this browser tab only.')),
    errSlot,
    h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    errSlot.replaceChildren();
    const cred = input.value.trim();
    if (!cred) {
      input.setAttribute('aria-invalid', 'true');
      errSlot.append(errorBox({ message: 'Paste the admin credential first.' }));
      input.focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = 'Checking…';
    try {
      await api.checkCredential(cred);
      api.setCredential(cred);
      ctx.go('#/overview');
    } catch (e) {
      input.setAttribute('aria-invalid', 'true');
      const msg = e.status === 401 || e.status === 403
        ? 'This is not the admin credential of this Cloud Gate. Copy it again from DIR/admin-token (the whole line, nothing else).'
        : e.message;
      errSlot.append(errorBox({ message: msg }));
      input.focus();
    } finally {
      submit.disabled = false;
      submit.textContent = 'Sign in';
    }
  });
  ctx.main.append(form);
  input.focus();
}
