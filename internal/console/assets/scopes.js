// cmekd console: an organisation's secret scopes — names, roles, keys and versions; a value is
// fetched only when its Reveal button is pressed.
'use strict';

// scopesSection is the organisation's secret scopes: names, roles, keys and versions. It
// loads on its own, so that what this token may not see is said in place and the rest of the page
// stands. A value is fetched only when its Reveal button is pressed, and forgotten on Hide.
function scopesSection(base) {
  const body = h('div', { id: 'scopes-body' }, h('p', {}, 'Loading…'));
  const msg = h('div', { 'aria-live': 'polite' });
  const scopeName = h('input', { id: 'scope-name', name: 'name', required: true, autocomplete: 'off', spellcheck: 'false' });
  const addBtn = h('button', { type: 'submit' }, 'Create scope');
  async function write(btn, fn, done) {
    await busy(btn, async () => {
      msg.replaceChildren();
      try {
        await fn();
        await load();
        announce(done);
      } catch (e) {
        msg.replaceChildren(errorBox(e));
      }
    });
  }
  const addForm = h('form', { class: 'stack', onsubmit: (ev) => {
    ev.preventDefault();
    write(addBtn, () => call('POST', base + '/secret-scopes', { name: scopeName.value.trim() }), 'Scope created');
  } }, h('div', {}, h('label', { for: 'scope-name' }, 'New scope name'), scopeName,
    h('p', { class: 'hint' }, 'You become its manager.')), h('div', {}, addBtn));

  // denied says in place why a part of a scope is not shown.
  function denied(e, what) {
    if (e.status === 403) return h('p', { class: 'hint' }, what + ' (' + (e.details.required ? 'needs the ' + e.details.required + ' role' : e.code) + ').');
    return errorBox(e);
  }

  function revealer(scopePath, key, n) {
    const outId = 'value-' + n;
    const out = h('code', { class: 'secret', id: outId });
    const btn = h('button', { type: 'button', class: 'secondary', 'aria-controls': outId, 'aria-expanded': 'false',
      'aria-label': 'Reveal the value of ' + key });
    btn.textContent = 'Reveal';
    btn.addEventListener('click', () => {
      if (btn.getAttribute('aria-expanded') === 'true') {
        out.textContent = '';
        btn.textContent = 'Reveal';
        btn.setAttribute('aria-expanded', 'false');
        btn.setAttribute('aria-label', 'Reveal the value of ' + key);
        return;
      }
      busy(btn, async () => {
        try {
          const s = await call('GET', scopePath + '/secrets/' + encodeURIComponent(key));
          out.textContent = s.value;
          btn.textContent = 'Hide';
          btn.setAttribute('aria-expanded', 'true');
          btn.setAttribute('aria-label', 'Hide the value of ' + key);
          announce('Value of ' + key + ' shown');
        } catch (e) {
          out.replaceChildren(errorBox(e));
        }
      });
    });
    return h('div', { class: 'reveal' }, btn, out);
  }

  async function scopeCard(sc, i) {
    const path = base + '/secret-scopes/' + encodeURIComponent(sc.name);
    const [roles, secrets] = await Promise.allSettled([call('GET', path + '/roles'), call('GET', path + '/secrets?limit=500')]);
    const id = 'scope-' + i;
    const rolePart = roles.status === 'fulfilled'
      ? (roles.value.roles.length
        ? h('ul', { class: 'roles' }, roles.value.roles.map((r) => h('li', {}, h('span', { class: 'wrap' }, r.principal), ' · ', badge(r.role))))
        : h('p', {}, 'No roles.'))
      : denied(roles.reason, 'Only its managers see its roles');
    let keyPart;
    if (secrets.status === 'fulfilled') {
      const rows = secrets.value.secrets.map((s, j) => [s.key, String(s.version), when(s.updated_at), revealer(path, s.key, i + '-' + j)]);
      keyPart = rows.length ? table('Secrets of ' + sc.name, ['Key', 'Version', 'Updated', 'Value'], rows) : h('p', {}, 'No secrets yet.');
    } else {
      keyPart = denied(secrets.reason, 'Only its writers and managers list its keys');
    }
    const key = h('input', { id: id + '-key', name: 'key', required: true, autocomplete: 'off', spellcheck: 'false' });
    const value = h('textarea', { id: id + '-value', name: 'value', required: true, autocomplete: 'off', spellcheck: 'false', rows: '2' });
    const put = h('button', { type: 'submit' }, 'Save secret');
    const putForm = h('form', { class: 'stack', onsubmit: (ev) => {
      ev.preventDefault();
      write(put, async () => {
        await call('PUT', path + '/secrets/' + encodeURIComponent(key.value.trim()), { value: value.value });
        value.value = '';
      }, 'Secret saved');
    } },
    h('div', {}, h('label', { for: id + '-key' }, 'Key'), key),
    h('div', {}, h('label', { for: id + '-value' }, 'Value'), value,
      h('p', { class: 'hint' }, 'A new key, or a new version of an existing one.')),
    h('div', {}, put));
    return h('section', { class: 'scope', 'aria-labelledby': id },
      h('h3', { id }, sc.name),
      h('p', { class: 'hint' }, 'Created by ' + sc.created_by + ' · ', when(sc.created_at)),
      h('h4', {}, 'Roles'), rolePart,
      h('h4', {}, 'Keys'), keyPart,
      h('details', {}, h('summary', {}, 'Add or replace a secret in ' + sc.name), putForm));
  }

  async function load() {
    try {
      const l = await call('GET', base + '/secret-scopes?limit=500');
      const cards = await Promise.all(l.secret_scopes.map(scopeCard));
      body.replaceChildren(...(cards.length ? cards : [h('p', {}, 'No secret scopes you hold a role on.')]));
    } catch (e) {
      body.replaceChildren(e.status === 403 ? denied(e, 'This token may not list secret scopes') : errorBox(e));
    }
  }
  load();
  return h('section', { 'aria-labelledby': 'scopes' }, h('h2', { id: 'scopes' }, 'Secret scopes'), msg, body, addForm);
}

