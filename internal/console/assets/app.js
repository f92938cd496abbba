// cmekd console: a small single-page app over cmekd's public API. The session cookie (HttpOnly,
// SameSite=Strict) authenticates every call; writes also send the session's CSRF token. Every value
// from the API is put into the page as text, never as markup. This file holds the helpers every page
// uses, the router, sign-in and the list of organisations; wizard.js, org.js, manage.js and scopes.js
// hold the other pages.
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
  const d = err.details || {};
  if (err.code) lines.push(' (' + err.code + (d.reason ? ': ' + d.reason : '') + (d.purpose ? ', ' + d.purpose + ' key' : '') + ')');
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

// empty is the empty state of a list: what is not there yet, and what to do about it.
function empty(text, id) {
  return h('p', { class: 'empty', id }, text);
}

// once shows a secret the API gives a single time, with a copy button and the warning that it is
// not shown again.
function once(id, what, value) {
  const code = h('code', { class: 'secret', id }, value);
  return h('div', { class: 'once', role: 'alert' },
    h('p', {}, h('strong', {}, 'Copy the ' + what + ' now: it is not shown again.')),
    h('div', { class: 'reveal' }, code, copyButton(() => code.textContent, what, id + '-copy')));
}

// copyButton copies text() to the clipboard, or selects it where the clipboard is refused.
function copyButton(text, what, id) {
  return button('Copy', async (ev) => {
    try {
      await navigator.clipboard.writeText(text());
      announce(what + ' copied');
    } catch (_) {
      const target = ev.currentTarget.parentNode.querySelector('code, pre');
      if (target) {
        const r = document.createRange();
        r.selectNodeContents(target);
        getSelection().removeAllRanges();
        getSelection().addRange(r);
      }
      announce(what + ' selected: press Ctrl+C to copy');
    }
  }, { class: 'secondary', id });
}

// form builds a stacked form whose submit runs fn with its button busy, shows the API's refusal in
// place and leaves the fields as they were.
function form(attrs, label, fields, fn) {
  const err = h('div', { class: 'form-error' });
  const submit = h('button', { type: 'submit' }, label);
  return h('form', Object.assign({ class: 'stack', onsubmit: (ev) => {
    ev.preventDefault();
    busy(submit, async () => {
      err.replaceChildren();
      try { await fn(); } catch (e) { err.replaceChildren(errorBox(e)); }
    });
  } }, attrs), fields, h('div', {}, submit), err);
}

// field is a labelled input with an optional hint.
function field(id, label, attrs, hint) {
  const input = h(attrs && attrs.rows ? 'textarea' : 'input', Object.assign({ id, name: id, autocomplete: 'off', spellcheck: 'false',
    'aria-describedby': hint ? id + '-hint' : null }, attrs || {}));
  return h('div', {}, h('label', { for: id }, label), input, hint ? h('p', { class: 'hint', id: id + '-hint' }, hint) : null);
}

function val(id) {
  return document.getElementById(id).value.trim();
}

// ---- polling ----

// Pages that show states which change by themselves (key health, collections, backups, key events)
// refresh them every few seconds while the tab is visible; leaving the page stops it.
const POLL_MS = 3000;
let poller = null;
let pollRound = null;

function stopPolling() {
  if (poller) clearInterval(poller);
  poller = null;
}

function every(fn) {
  stopPolling();
  const round = async () => {
    if (document.visibilityState !== 'visible' || poller !== mine) return;
    try { await fn(); } catch (_) { /* the next round tries again; a 401 has gone to sign-in */ }
  };
  const mine = setInterval(round, POLL_MS);
  poller = mine;
  pollRound = round;
}

// A tab that becomes visible again refreshes at once rather than at the next round.
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && poller && pollRound) pollRound();
});

// changed reports whether data differs from what el last showed, and remembers it: a refresh redraws
// only what changed, so a button someone is about to press stays where it is.
const shownData = new WeakMap();
function changed(el, data) {
  const j = JSON.stringify(data);
  if (shownData.get(el) === j) return false;
  shownData.set(el, j);
  return true;
}

// ---- what this token may do ----

// who is the signed-in token's role and organisation, as the console's session tells them. What the
// role may not do is not offered; the API refuses it anyway.
const RANKS = { workspace: 0, member: 1, operator: 2, owner: 3, admin: 4 };
let who = { role: '', org: '' };

// signedIn keeps what the session answer says: its CSRF token, the role and the organisation.
function signedIn(s) {
  csrf = s.csrf_token || '';
  who = { role: s.role || '', org: s.org_id || '' };
  document.querySelectorAll('[data-admin]').forEach((el) => { el.hidden = who.role !== 'admin'; });
}

// may reports whether the signed-in token's role grants everything role grants.
function may(role) {
  return (RANKS[who.role] || 0) >= RANKS[role];
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
  // A link into the console opened signed out comes back to its page after signing in.
  const after = location.hash && location.hash !== '#/signin' ? location.hash : '#/orgs';
  const err = h('div');
  const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', required: true,
    'aria-describedby': 'token-hint' });
  const signinForm = h('form', { class: 'stack signin', onsubmit: async (ev) => {
    ev.preventDefault();
    err.replaceChildren();
    try {
      const s = await call('POST', '/console/session', { token: input.value });
      input.value = '';
      signedIn(s);
      go(after);
    } catch (e) {
      err.replaceChildren(errorBox(e));
      input.focus();
    }
  } },
  h('div', {}, h('label', { for: 'token' }, 'API token'), input,
    h('p', { class: 'hint', id: 'token-hint' },
      'The admin token, or one of your organisation\'s tokens. The page does not keep it: the server seals it into an HttpOnly session cookie.')),
  h('div', {}, h('button', { type: 'submit' }, 'Sign in')), err);
  page('Sign in', signinForm);
  input.focus();
}


// ---- organisations ----

async function orgs() {
  const l = await call('GET', '/v1/orgs?limit=500');
  const rows = l.orgs.map((o) => [h('a', { href: '#/orgs/' + o.id }, o.name), (o.regions || [o.region]).join(', '), o.encryption.mode,
    o.encryption.mode === 'provider_managed' ? 'the platform\'s key' : providerName(o.encryption.provider),
    h('span', { class: 'arn' }, o.encryption.key_id || o.encryption.key_arn || '—'), badge(o.encryption.status)]);
  page('Organisations',
    may('admin') ? h('p', {}, h('a', { href: '#/onboard', class: 'cta' }, 'New organisation'), ' — link a customer\'s KMS key, checked live.') : null,
    rows.length ? table('Organisations', ['Name', 'Regions', 'Encryption', 'Provider', 'Key id', 'Key'], rows)
      : empty(may('admin') ? 'No organisations yet. Start with New organisation: it checks the customer\'s key live before anything is stored.'
        : 'This token sees no organisation.', 'orgs-empty'));
}

// ---- routing ----

// ROUTES maps a hash to its page: the first pattern that matches draws it with the groups it caught.
const ROUTES = [
  [/^#\/onboard$/, () => onboard()],
  [/^#\/orgs\/([^/]+)\/collections\/([^/]+)$/, (org, col) => collectionPage(org, col)],
  [/^#\/orgs\/([^/]+)\/([a-z-]+)$/, (org, tab) => orgPage(org, tab)],
  [/^#\/orgs\/([^/]+)$/, (org) => orgPage(org, 'overview')],
  [/^/, () => orgs()],
];

async function route() {
  stopPolling();
  const hash = location.hash || '#/orgs';
  if (hash === '#/signin' || !csrf) {
    signIn();
    return;
  }
  nav.hidden = false;
  delete main.dataset.shown;
  try {
    for (const [re, draw] of ROUTES) {
      const m = hash.match(re);
      if (m) {
        await draw(...m.slice(1).map(decodeURIComponent));
        break;
      }
    }
  } catch (e) {
    if (e.status !== 401) page('Something went wrong', errorBox(e), h('p', {}, h('a', { href: '#/orgs' }, 'Back to the organisations')));
  }
  // Tests (and anyone) can tell the page of this address has been drawn.
  main.dataset.shown = hash;
  for (const a of nav.querySelectorAll('a')) {
    if (hash.startsWith(a.getAttribute('href'))) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

document.getElementById('signout').addEventListener('click', async () => {
  try { await call('DELETE', '/console/session'); } catch (_) { /* signed out either way */ }
  signedIn({});
  go('#/signin');
});

window.addEventListener('hashchange', route);

// The pages are in several scripts; they have all run by DOMContentLoaded.
document.addEventListener('DOMContentLoaded', async () => {
  try {
    signedIn(await call('GET', '/console/session'));
  } catch (_) {
    signedIn({});
  }
  route();
});
