// cmekd console: a small single-page app over cmekd's public API. The session cookie (HttpOnly,
// SameSite=Strict) authenticates every call; writes also send the session's CSRF token. Every value
// from the API is put into the page as text, never as markup.
'use strict';

let csrf = '';
const main = document.getElementById('main');
const nav = document.getElementById('nav');

// h builds an element: h('a', {href: '#'}, 'text', child, ...). Strings become text nodes.
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function announce(text) {
  const s = document.getElementById('status');
  s.textContent = '';
  setTimeout(() => { s.textContent = text; }, 50);
}

class APIError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || ('HTTP ' + status));
    this.status = status;
    this.code = e.code || '';
    this.details = e.details || {};
    this.requestId = (body && body.request_id) || '';
  }
}

// go shows the page of hash, also when it is the page already shown.
function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

async function call(method, path, body) {
  const opts = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (method !== 'GET') opts.headers['X-CSRF-Token'] = csrf;
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  const text = await r.text();
  let data = text;
  if ((r.headers.get('Content-Type') || '').startsWith('application/json')) {
    try { data = text ? JSON.parse(text) : null; } catch (_) { /* keep the text */ }
  }
  if (!r.ok) {
    const err = new APIError(r.status, data);
    if (r.status === 401 && !path.startsWith('/console/')) {
      csrf = '';
      go('#/signin');
    }
    throw err;
  }
  return data;
}

function errorBox(err) {
  const lines = [err.message];
  if (err.code) lines.push(' (' + err.code + (err.details && err.details.reason ? ': ' + err.details.reason : '') + ')');
  return h('div', { class: 'error', role: 'alert' }, lines.join(''),
    err.requestId ? h('div', { class: 'hint' }, 'Request id ' + err.requestId) : null,
    err.details && err.details.checks ? checksTable(err.details.checks) : null);
}

function when(t) {
  if (!t) return '—';
  const d = new Date(t);
  return h('time', { datetime: t }, d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z'));
}

function badge(state) {
  return h('span', { class: 'state state-' + state }, state);
}

// table draws rows as a table that becomes labelled cards on narrow screens.
function table(caption, headers, rows) {
  return h('div', { class: 'table-wrap' },
    h('table', { class: 'cards' },
      h('caption', { class: 'visually-hidden' }, caption),
      h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((c, i) => h('td', { 'data-label': headers[i] }, c)))))));
}

function page(title, ...children) {
  document.title = title + ' · cmekd console';
  main.replaceChildren(h('h1', { tabindex: '-1', id: 'title' }, title), ...children);
  document.getElementById('title').focus();
}

function button(text, onclick, attrs) {
  return h('button', Object.assign({ type: 'button', onclick }, attrs || {}), text);
}

// busy disables a button while fn runs.
async function busy(btn, fn) {
  btn.disabled = true;
  try { await fn(); } finally { btn.disabled = false; }
}

// ---- sign in ----

function signIn() {
  nav.hidden = true;
  const err = h('div');
  const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', required: true,
    'aria-describedby': 'token-hint' });
  const form = h('form', { class: 'stack', onsubmit: async (ev) => {
    ev.preventDefault();
    err.replaceChildren();
    try {
      const s = await call('POST', '/console/session', { token: input.value });
      csrf = s.csrf_token;
      input.value = '';
      go('#/orgs');
    } catch (e) {
      err.replaceChildren(errorBox(e));
      input.focus();
    }
  } },
  h('div', {}, h('label', { for: 'token' }, 'API token'), input,
    h('p', { class: 'hint', id: 'token-hint' },
      'The admin token, or one of your organisation\'s tokens. The page does not keep it: the server seals it into an HttpOnly session cookie.')),
  h('div', {}, h('button', { type: 'submit' }, 'Sign in')), err);
  page('Sign in', form);
  input.focus();
}

// ---- organisations ----

async function orgs() {
  const l = await call('GET', '/v1/orgs?limit=500');
  const rows = l.orgs.map((o) => [h('a', { href: '#/orgs/' + o.id }, o.name), o.region, o.encryption.mode,
    o.encryption.mode === 'provider_managed' ? 'the platform\'s key' : providerName(o.encryption.provider),
    h('span', { class: 'arn' }, o.encryption.key_id || o.encryption.key_arn || '—'), badge(o.encryption.status)]);
  page('Organisations',
    h('p', {}, h('a', { href: '#/onboard' }, 'New organisation'), ' — link a customer\'s KMS key, checked live.'),
    rows.length ? table('Organisations', ['Name', 'Region', 'Encryption', 'Provider', 'Key id', 'Key'], rows) : h('p', {}, 'No organisations yet.'));
}

// ---- onboarding wizard ----

// PROVIDERS are the key providers the wizard offers, in its order. The API has no route that tells
// which of them a deployment serves, so all three are offered and the server's unsupported_provider
// answer is shown as it comes.
const PROVIDERS = {
  aws: {
    name: 'AWS KMS', short: 'AWS', keyLabel: 'Key ARN', keyName: 'key ARN',
    placeholder: 'arn:aws:kms:<region>:<account>:key/<id>',
    hint: 'The full key ARN: arn:aws:kms:<region>:<account>:key/<key-id>. Aliases are not accepted.',
    region: 'us-west-2', formats: ['json', 'terraform'], toGrant: 'Add this to the key policy, then check again', granted: 'The key policy, for your records',
  },
  gcp: {
    name: 'Google Cloud KMS', short: 'Google Cloud', keyLabel: 'CryptoKey name', keyName: 'CryptoKey name',
    placeholder: 'projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>',
    hint: 'The CryptoKey\'s resource name: projects/<project>/locations/<location>/keyRings/<ring>/cryptoKeys/<key> — the key, not one of its versions, so that rotation is followed.',
    region: 'us-central1', formats: ['json', 'terraform', 'cli'], toGrant: 'Add these IAM bindings to the key, then check again', granted: 'The IAM bindings, for your records',
  },
  azure: {
    name: 'Azure Key Vault', short: 'Azure', keyLabel: 'Key identifier', keyName: 'key identifier',
    placeholder: 'https://<vault>.vault.azure.net/keys/<name>',
    hint: 'The versionless key URL: https://<vault>.vault.azure.net/keys/<name> (a Managed HSM key: https://<hsm>.managedhsm.azure.net/keys/<name>), so that rotation is followed.',
    region: 'eastus', formats: ['json', 'terraform', 'cli'], toGrant: 'Make this role assignment on the key, then check again', granted: 'The role assignment, for your records',
  },
};
const FORMAT_NAMES = { json: 'JSON', terraform: 'Terraform', cli: 'CLI' };

function providerName(p) {
  return (PROVIDERS[p] && PROVIDERS[p].name) || p || '—';
}

function checksTable(checks) {
  return table('Key checks', ['Result', 'Check', 'Code', 'Denied action', 'Advice'], checks.map((c) => [
    c.ok ? h('span', { class: 'ok' }, '✓', h('span', { class: 'visually-hidden' }, ' passed'))
      : c.code === 'skipped' ? h('span', { class: 'hint' }, '–', h('span', { class: 'visually-hidden' }, ' not run'))
        : h('span', { class: 'bad' }, '✗', h('span', { class: 'visually-hidden' }, ' failed')),
    c.name, c.code || '—', c.action || '—', advice(c.message)]));
}

// advice is a check's message, its fix in the customer's own CLI (after the last ': ') set as code.
function advice(msg) {
  if (!msg) return '—';
  const m = msg.match(/^([\s\S]*?:\s)((?:gcloud|az|aws|cmekctl) [\s\S]*)$/);
  if (!m) return h('span', { class: 'wrap' }, msg);
  return h('span', { class: 'wrap' }, m[1], h('code', { class: 'cmd' }, m[2]));
}

// regionOf is the region a key names: an AWS ARN's, a Google Cloud key's location. An Azure key
// URL does not tell its region.
function regionOf(provider, keyID) {
  const id = keyID.trim();
  if (provider === 'aws') {
    const parts = id.split(':');
    return parts.length > 3 ? parts[3] : '';
  }
  if (provider === 'gcp') {
    const m = id.match(/\/locations\/([^/]+)\//);
    return m ? m[1] : '';
  }
  return '';
}

// accessNote says what to do with the access shown in format.
function accessNote(provider, format) {
  const notes = {
    aws: {
      json: 'Add this statement beside the statements already in the key policy.',
      terraform: 'An aws_kms_key_policy resource replaces the whole policy, so it holds the key owner\'s statement too.',
    },
    gcp: {
      json: 'Add these bindings to the CryptoKey\'s IAM policy, beside the bindings it has.',
      terraform: 'Each google_kms_crypto_key_iam_member adds one member to one role and leaves the key\'s other bindings alone.',
      cli: 'Run these as an administrator of the key (roles/cloudkms.admin).',
    },
    azure: {
      json: 'The role assignment to make at the key\'s scope; {subscription-id} and {resource-group} are the vault\'s.',
      terraform: 'An azurerm_role_assignment at the key\'s scope; {subscription-id} and {resource-group} are the vault\'s.',
      cli: 'Run this as someone who may assign roles on the vault (Owner or User Access Administrator); {subscription-id} and {resource-group} are the vault\'s.',
    },
  };
  return notes[provider][format];
}

// accessPanel shows the access the platform needs on keyID — the key-policy statement of an AWS
// key, the IAM bindings of a Google Cloud key, the role assignment of an Azure key — in each of
// the provider's formats, with a copy button.
function accessPanel(provider, keyID) {
  const formats = PROVIDERS[provider].formats;
  const pre = h('pre', { id: 'policy', tabindex: '0', role: 'tabpanel' });
  const note = h('p', { class: 'hint', id: 'policy-note' });
  let shown = formats[0];
  let seq = 0;
  const tabs = formats.map((f, i) => h('button', { type: 'button', role: 'tab', id: 'tab-' + f,
    'aria-controls': 'policy', 'aria-selected': 'false', tabindex: '-1', onclick: () => show(f),
    onkeydown: (ev) => {
      const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: formats.length - 1 }[ev.key];
      if (to === undefined) return;
      ev.preventDefault();
      const next = formats[(to + formats.length) % formats.length];
      show(next);
      document.getElementById('tab-' + next).focus();
    } }, FORMAT_NAMES[f]));
  const copy = button('Copy', async () => {
    try {
      await navigator.clipboard.writeText(pre.textContent);
      announce(FORMAT_NAMES[shown] + ' copied');
    } catch (_) {
      const r = document.createRange();
      r.selectNodeContents(pre);
      getSelection().removeAllRanges();
      getSelection().addRange(r);
      announce(FORMAT_NAMES[shown] + ' selected: press Ctrl+C to copy');
    }
  }, { class: 'secondary', id: 'copy-policy' });
  async function show(format) {
    shown = format;
    const mine = ++seq;
    for (const t of tabs) {
      const on = t.id === 'tab-' + format;
      t.setAttribute('aria-selected', String(on));
      t.tabIndex = on ? 0 : -1;
    }
    pre.setAttribute('aria-labelledby', 'tab-' + format);
    note.textContent = accessNote(provider, format);
    copy.textContent = provider === 'aws' ? 'Copy policy' : format === 'cli' ? 'Copy commands' : 'Copy ' + FORMAT_NAMES[format];
    pre.textContent = 'Loading…';
    try {
      const q = new URLSearchParams({ provider, key_id: keyID, format });
      const p = await call('GET', '/v1/key-policy?' + q);
      if (mine === seq) pre.textContent = typeof p === 'string' ? p : JSON.stringify(p, null, 2);
    } catch (e) {
      if (mine === seq) pre.replaceChildren(errorBox(e));
    }
  }
  show(shown);
  return h('div', { class: 'access' },
    h('div', { role: 'tablist', 'aria-label': provider === 'aws' ? 'Policy format' : 'Access format' }, tabs),
    note, pre, h('div', { class: 'row' }, copy));
}

// providerError is an error box for the key check, adding to unsupported_provider the providers
// the server says it serves.
function providerError(e) {
  const box = errorBox(e);
  if (e.code === 'unsupported_provider' && Array.isArray(e.details.providers)) {
    box.append(h('p', { class: 'hint', id: 'served-providers' },
      'This deployment serves ' + e.details.providers.map(providerName).join(', ') +
      '. Choose one of those, or have the operator add the provider to CMEKD_PROVIDERS.'));
  }
  return box;
}

function onboard() {
  let provider = 'aws';
  const keyInput = h('input', { id: 'key-id', name: 'key_id', autocomplete: 'off', spellcheck: 'false', required: true,
    'aria-describedby': 'key-id-hint' });
  const keyLabel = h('label', { for: 'key-id', id: 'key-id-label' });
  const keyHint = h('p', { class: 'hint', id: 'key-id-hint' });
  const intro = h('p', { id: 'wizard-intro' });
  const results = h('div', { id: 'results', 'aria-live': 'polite' });
  const checkBtn = h('button', { type: 'submit' }, 'Check key');
  const choices = Object.entries(PROVIDERS).map(([p, d]) => {
    const radio = h('input', { type: 'radio', name: 'provider', id: 'provider-' + p, value: p, checked: p === provider,
      onchange: () => { if (radio.checked) choose(p); } });
    return h('label', { class: 'choice', for: 'provider-' + p }, radio,
      h('span', {}, d.name, h('span', { class: 'choice-hint' }, d.keyName)));
  });
  function choose(p) {
    provider = p;
    const d = PROVIDERS[p];
    keyLabel.textContent = d.keyLabel;
    keyInput.placeholder = d.placeholder;
    keyHint.textContent = d.hint;
    intro.textContent = 'Paste the customer\'s ' + d.name + ' ' + d.keyName + '. Every check runs live against ' + d.short +
      ' as the platform; nothing is stored until you create the organisation.';
    results.replaceChildren();
  }
  async function check() {
    const p = provider;
    const keyID = keyInput.value.trim();
    results.replaceChildren(h('p', {}, 'Checking…'));
    let res;
    try {
      res = await call('POST', '/v1/key-checks', { provider: p, key_id: keyID });
    } catch (e) {
      results.replaceChildren(providerError(e));
      announce('The key check was refused: ' + e.message);
      return;
    }
    const failed = res.checks.filter((c) => !c.ok && c.code !== 'skipped');
    const again = button('Check again', (ev) => busy(ev.currentTarget, check), { class: 'secondary', id: 'check-again' });
    const parts = [h('h2', {}, 'Checks of the ' + providerName(p) + ' key'), checksTable(res.checks)];
    if (res.ok) {
      parts.push(h('p', { class: 'ok', id: 'checks-ok' }, 'Every check passed: the platform can use this key.'));
    } else {
      parts.push(h('p', { class: 'bad', id: 'checks-failed' },
        failed.length + ' check' + (failed.length === 1 ? '' : 's') + ' failed: ' +
        failed.map((c) => c.name + (c.action ? ' (' + c.action + ' denied)' : '')).join(', ') + '.'));
    }
    if (res.checks[0] && res.checks[0].ok) {
      parts.push(h('h2', {}, res.ok ? PROVIDERS[p].granted : PROVIDERS[p].toGrant), accessPanel(p, res.key_id || keyID));
    }
    parts.push(h('div', { class: 'row' }, again));
    if (res.ok) parts.push(createForm(p, res.key_id || keyID));
    results.replaceChildren(...parts);
    announce(res.ok ? 'Every check passed' : failed.length + ' checks failed');
  }
  const form = h('form', { class: 'stack', onsubmit: (ev) => { ev.preventDefault(); busy(checkBtn, check); } },
    h('fieldset', { class: 'providers' }, h('legend', {}, 'Key provider'), h('div', { class: 'choices' }, choices)),
    h('div', {}, keyLabel, keyInput, keyHint),
    h('div', {}, checkBtn));
  choose(provider);
  page('New organisation', intro, form, results);
}

function createForm(provider, keyID) {
  const d = PROVIDERS[provider];
  const name = h('input', { id: 'org-name', name: 'name', required: true, autocomplete: 'organization' });
  const region = h('input', { id: 'org-region', name: 'region', required: true, autocomplete: 'off', spellcheck: 'false',
    value: regionOf(provider, keyID), placeholder: d.region, 'aria-describedby': 'org-region-hint' });
  const err = h('div');
  const submit = h('button', { type: 'submit' }, 'Create organisation');
  return h('form', { class: 'stack', onsubmit: (ev) => {
    ev.preventDefault();
    busy(submit, async () => {
      err.replaceChildren();
      try {
        const o = await call('POST', '/v1/orgs', { name: name.value.trim(), region: region.value.trim(),
          encryption: { mode: 'customer_managed', provider, key_id: keyID } });
        announce('Organisation created');
        go('#/orgs/' + o.id);
      } catch (e) {
        err.replaceChildren(providerError(e));
      }
    });
  } },
  h('h2', {}, 'Create the organisation'),
  h('p', { class: 'hint' }, 'The key link is permanent: an organisation never changes its key.'),
  h('dl', { class: 'facts' }, h('dt', {}, 'Provider'), h('dd', {}, d.name), h('dt', {}, d.keyLabel), h('dd', { class: 'arn' }, keyID)),
  h('div', {}, h('label', { for: 'org-name' }, 'Organisation name'), name),
  h('div', {}, h('label', { for: 'org-region' }, 'Region'), region,
    h('p', { class: 'hint', id: 'org-region-hint' }, provider === 'azure'
      ? 'The vault\'s Azure region, e.g. eastus: a key URL does not tell it, so it is yours to give.'
      : 'A ' + d.short + ' region this deployment serves, e.g. ' + d.region + '; the key must be in it.')),
  h('div', {}, submit), err);
}

// ---- one organisation ----

async function org(id) {
  const base = '/v1/orgs/' + encodeURIComponent(id);
  const [o, ks, cols, evs] = await Promise.all([call('GET', base), call('GET', base + '/key-status'),
    call('GET', base + '/collections?limit=500'), call('GET', base + '/events?limit=50')]);
  const msg = h('div', { 'aria-live': 'polite' });
  const act = (label, fn, attrs) => button(label, (ev) => busy(ev.currentTarget, async () => {
    msg.replaceChildren();
    try {
      await fn();
      await org(id);
      announce(label + ': done');
    } catch (e) {
      msg.replaceChildren(errorBox(e));
    }
  }), attrs);

  const keyRows = ks.regions.map((r) => [r.region, r.purpose || 'data', badge(r.status), when(r.last_probe_at), when(r.last_ok_at),
    when(r.unavailable_since),
    r.last_error ? h('span', { class: 'wrap' }, r.last_error.code + (r.last_error.action ? ' (' + r.last_error.action + ')' : '') + ': ' + r.last_error.message) : '—']);
  const colRows = cols.collections.map((c) => [c.name, h('span', { class: 'wrap' }, c.id), badge(c.state), c.state_reason || '—',
    when(c.state_changed_at),
    c.state === 'paused' ? act('Resume', () => call('POST', base + '/collections/' + c.id + '/resume'), { 'aria-label': 'Resume ' + c.name }) : '—']);
  const colName = h('input', { id: 'collection-name', name: 'name', required: true, autocomplete: 'off' });
  const addBtn = h('button', { type: 'submit' }, 'Create collection');
  const addForm = h('form', { class: 'stack', onsubmit: (ev) => {
    ev.preventDefault();
    busy(addBtn, async () => {
      msg.replaceChildren();
      try {
        await call('POST', base + '/collections', { name: colName.value.trim() });
        await org(id);
        announce('Collection created');
      } catch (e) {
        msg.replaceChildren(errorBox(e));
      }
    });
  } }, h('div', {}, h('label', { for: 'collection-name' }, 'New collection name'), colName), h('div', {}, addBtn));

  page(o.name,
    h('dl', { class: 'facts' },
      h('dt', {}, 'ID'), h('dd', {}, o.id),
      h('dt', {}, 'Region'), h('dd', {}, o.region),
      h('dt', {}, 'Encryption'), h('dd', {}, o.encryption.mode),
      h('dt', {}, 'Provider'), h('dd', { id: 'org-provider' }, o.encryption.mode === 'provider_managed' ? 'the platform\'s own key' : providerName(o.encryption.provider)),
      h('dt', {}, 'Key id'), h('dd', { class: 'arn', id: 'org-key-id' }, o.encryption.key_id || o.encryption.key_arn || 'the platform\'s own key'),
      o.encryption.backup_key_id ? [h('dt', {}, 'Backup key id'), h('dd', { class: 'arn' }, o.encryption.backup_key_id)] : null,
      h('dt', {}, 'Key'), h('dd', {}, badge(o.encryption.status))),
    msg,
    h('section', { 'aria-labelledby': 'key-health' },
      h('h2', { id: 'key-health' }, 'Key health'),
      table('Key health per region and purpose', ['Region', 'Purpose', 'Status', 'Last probe', 'Last OK', 'Unavailable since', 'Last error'], keyRows),
      h('div', { class: 'row' }, act('Check key now', () => call('POST', base + '/key-status/probe'), { class: 'secondary', id: 'probe' }),
        h('span', { class: 'hint' }, 'after the customer fixed the key\'s access or re-enabled the key'))),
    h('section', { 'aria-labelledby': 'collections' },
      h('h2', { id: 'collections' }, 'Collections'),
      colRows.length ? table('Collections', ['Name', 'ID', 'State', 'Reason', 'Since', 'Action'], colRows) : h('p', {}, 'No collections yet.'),
      addForm),
    h('section', { 'aria-labelledby': 'events' },
      h('h2', { id: 'events' }, 'Events'),
      h('ol', { class: 'timeline', id: 'timeline' }, evs.events.map((e) => h('li', {}, when(e.at), h('strong', {}, e.type),
        [e.region, e.collection_id, e.from_state || e.to_state ? (e.from_state || '∅') + ' → ' + (e.to_state || '∅') : '', e.reason, e.actor && 'by ' + e.actor]
          .filter(Boolean).map((x) => ' · ' + x))))),
    scopesSection(base));
}

// ---- secret scopes ----

// scopesSection is the organisation's secret scopes (SPEC §13): names, roles, keys and versions. It
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

// ---- routing ----

async function route() {
  const hash = location.hash || '#/orgs';
  if (hash === '#/signin' || !csrf) {
    signIn();
    return;
  }
  nav.hidden = false;
  try {
    const m = hash.match(/^#\/orgs\/([^/]+)$/);
    if (m) await org(decodeURIComponent(m[1]));
    else if (hash === '#/onboard') onboard();
    else await orgs();
  } catch (e) {
    if (e.status !== 401) page('Something went wrong', errorBox(e));
  }
}

document.getElementById('signout').addEventListener('click', async () => {
  try { await call('DELETE', '/console/session'); } catch (_) { /* signed out either way */ }
  csrf = '';
  go('#/signin');
});

window.addEventListener('hashchange', route);

(async () => {
  try {
    csrf = (await call('GET', '/console/session')).csrf_token;
  } catch (_) {
    csrf = '';
  }
  route();
})();
