// cmekd console: one organisation — its tabs, the overview (key health, collections, recent events,
// refreshed by themselves), a collection's documents and the events timeline, both paged.
'use strict';

// TABS are the organisation's pages; owner marks those only an owner (or the admin) may use.
const TABS = [
  ['overview', 'Overview'], ['regions', 'Regions'], ['backups', 'Backups'], ['grants', 'Grants'],
  ['key-events', 'Key events'], ['webhooks', 'Webhooks', 'owner'], ['access', 'Tokens & workspaces'],
  ['secrets', 'Secret scopes'], ['events', 'Events'],
];

function orgBase(id) {
  return '/v1/orgs/' + encodeURIComponent(id);
}

// orgPage draws the organisation's header and tab bar, then the tab.
async function orgPage(id, tab) {
  const base = orgBase(id);
  const o = await call('GET', base);
  const owner = may('owner');
  // operator: the role may change things (regions, collections, backups, grants, workspaces).
  const ctx = { id, base, org: o, owner, operator: may('operator') };
  const tabs = TABS.filter((t) => !t[2] || owner);
  const here = tabs.find((t) => t[0] === tab) || tabs[0];
  const bar = h('nav', { class: 'tabs', 'aria-label': o.name }, tabs.map(([t, label]) =>
    h('a', { href: '#/orgs/' + id + (t === 'overview' ? '' : '/' + t), 'aria-current': t === here[0] ? 'page' : null, id: 'tab-link-' + t }, label)));
  const body = await orgTab(here[0])(ctx);
  page(o.name, h('p', { class: 'crumbs' }, h('a', { href: '#/orgs' }, 'Organisations'), ' / ', o.name, here[0] === 'overview' ? '' : ' / ' + here[1]),
    bar, ...[].concat(body).filter(Boolean));
  document.title = o.name + ' · ' + here[1] + ' · cmekd console';
}

// act is a button that runs fn, then redraws with redraw; a refusal shows in msg in the API's words.
function act(msg, redraw, label, fn, attrs) {
  return button(label, (ev) => busy(ev.currentTarget, async () => {
    msg.replaceChildren();
    try {
      await fn();
      await redraw();
      announce(label + ': done');
    } catch (e) {
      msg.replaceChildren(errorBox(e));
    }
  }), attrs);
}

function keyHealthTable(ks) {
  return table('Key health per region and purpose', ['Region', 'Purpose', 'Status', 'Last probe', 'Last OK', 'Unavailable since', 'Last error'],
    ks.regions.map((r) => [r.region, r.purpose || 'data', badge(r.status), when(r.last_probe_at), when(r.last_ok_at), when(r.unavailable_since),
      r.last_error ? h('span', { class: 'wrap' }, r.last_error.code + (r.last_error.action ? ' (' + r.last_error.action + ')' : '') + ': ' + r.last_error.message) : '—']));
}

function timeline(events, id) {
  if (!events.length) return empty('No events yet.', id);
  return h('ol', { class: 'timeline', id }, events.map((e) => h('li', {}, when(e.at), h('strong', {}, e.type),
    [e.region, e.purpose, e.collection_id, e.from_state || e.to_state ? (e.from_state || '∅') + ' → ' + (e.to_state || '∅') : '', e.reason, e.actor && 'by ' + e.actor]
      .filter(Boolean).map((x) => ' · ' + x))));
}

// orgFacts is what the organisation is: its id, regions and key link.
function orgFacts(o, regions) {
  return h('dl', { class: 'facts' },
    h('dt', {}, 'ID'), h('dd', {}, o.id),
    h('dt', {}, 'Regions'), h('dd', {}, regions.join(', ') + ' (home ' + o.region + ')'),
    h('dt', {}, 'Encryption'), h('dd', {}, o.encryption.mode),
    h('dt', {}, 'Provider'), h('dd', { id: 'org-provider' }, o.encryption.mode === 'provider_managed' ? 'the platform\'s own key' : providerName(o.encryption.provider)),
    h('dt', {}, 'Key id'), h('dd', { class: 'arn', id: 'org-key-id' }, o.encryption.key_id || o.encryption.key_arn || 'the platform\'s own key'),
    o.encryption.backup_key_id ? [h('dt', {}, 'Backup key id'), h('dd', { class: 'arn', id: 'org-backup-key-id' }, o.encryption.backup_key_id)] : null,
    h('dt', {}, 'Key'), h('dd', {}, badge(o.encryption.status)));
}

async function overview(ctx) {
  const { id, base, org: o } = ctx;
  const msg = h('div', { 'aria-live': 'polite' });
  const health = h('div', { id: 'key-health-body' });
  const cols = h('div', { id: 'collections-body' });
  const recent = h('div', { id: 'recent-body' });
  const stamp = h('span', { class: 'hint', id: 'refreshed' });
  async function refresh() {
    const [ks, cl, ev] = await Promise.all([call('GET', base + '/key-status'), call('GET', base + '/collections?limit=500'), call('GET', base + '/events?limit=10')]);
    if (changed(health, ks)) health.replaceChildren(keyHealthTable(ks));
    if (changed(cols, cl.collections)) cols.replaceChildren(cl.collections.length ? collectionsTable(cl.collections) : empty('No collections yet: create one below.', 'collections-empty'));
    if (changed(recent, ev.events)) recent.replaceChildren(timeline(ev.events, 'timeline'));
    stamp.textContent = 'Refreshed ' + new Date().toLocaleTimeString() + ' · every ' + POLL_MS / 1000 + ' s while this tab is visible';
  }
  function collectionsTable(list) {
    return table('Collections', ['Name', 'Region', 'State', 'Reason', 'Since', 'Actions'], list.map((c) => [
      h('a', { href: '#/orgs/' + id + '/collections/' + c.id }, c.name), c.region, badge(c.state), c.state_reason || '—', when(c.state_changed_at),
      h('div', { class: 'row tight' },
        c.state === 'paused' && ctx.operator ? act(msg, refresh, 'Resume', () => call('POST', base + '/collections/' + c.id + '/resume'), { 'aria-label': 'Resume ' + c.name }) : null,
        ctx.operator ? backupButton(ctx, c, msg) : null)]));
  }
  await refresh();
  every(refresh);
  const regions = o.regions || [o.region];
  const addForm = ctx.operator && form({ id: 'add-collection' }, 'Create collection', [
    field('collection-name', 'New collection name', { required: true }),
    regions.length > 1 ? h('div', {}, h('label', { for: 'collection-region' }, 'Region'),
      h('select', { id: 'collection-region', name: 'region' }, regions.map((r) => h('option', { value: r }, r)))) : null,
  ], async () => {
    const sel = document.getElementById('collection-region');
    await call('POST', base + '/collections', Object.assign({ name: val('collection-name') }, sel ? { region: sel.value } : {}));
    document.getElementById('collection-name').value = '';
    await refresh();
    announce('Collection created');
  });
  return [
    orgFacts(o, regions),
    msg,
    h('section', { 'aria-labelledby': 'key-health' },
      h('h2', { id: 'key-health' }, 'Key health'), health,
      ctx.operator ? h('div', { class: 'row' }, act(msg, refresh, 'Check key now', () => call('POST', base + '/key-status/probe'), { class: 'secondary', id: 'probe' }),
        h('span', { class: 'hint' }, 'after the customer fixed the key\'s access or re-enabled the key')) : null, stamp),
    h('section', { 'aria-labelledby': 'collections' },
      h('h2', { id: 'collections' }, 'Collections'), cols, h('div', { id: 'backup-progress', 'aria-live': 'polite' }), addForm),
    h('section', { 'aria-labelledby': 'events' },
      h('h2', { id: 'events' }, 'Recent events'), recent, h('p', {}, h('a', { href: '#/orgs/' + id + '/events' }, 'All events'))),
  ];
}

// pager shows one page of a list the API pages with next_cursor, with Previous and Next: the
// cursors of the pages before are kept, so Previous goes back exactly.
function pager(id, load, render) {
  const stack = [''];
  let next = '';
  const body = h('div', { id: id + '-body' }, h('p', {}, 'Loading…'));
  const info = h('span', { class: 'hint', id: id + '-page' });
  const prev = h('button', { type: 'button', class: 'secondary', id: id + '-prev' }, '← Previous');
  const fwd = h('button', { type: 'button', class: 'secondary', id: id + '-next' }, 'Next →');
  async function show() {
    prev.disabled = fwd.disabled = true;
    try {
      const r = await load(stack[stack.length - 1]);
      next = r.next_cursor || '';
      body.replaceChildren(render(r));
      info.textContent = 'Page ' + stack.length;
    } catch (e) {
      body.replaceChildren(errorBox(e));
    }
    prev.disabled = stack.length === 1;
    fwd.disabled = !next;
  }
  prev.addEventListener('click', () => { stack.pop(); show(); });
  fwd.addEventListener('click', () => { stack.push(next); show(); });
  show();
  return h('div', { class: 'paged' }, body, h('div', { class: 'row pager' }, prev, info, fwd));
}

function cursorQuery(limit, cursor, extra) {
  const q = new URLSearchParams(Object.assign({ limit: String(limit) }, extra || {}));
  if (cursor) q.set('cursor', cursor);
  return q.toString();
}

async function eventsTab(ctx) {
  const typeSel = h('select', { id: 'event-type', name: 'type' }, h('option', { value: '' }, 'Every type'),
    ['key.unavailable', 'key.restored', 'key.verified', 'key.event_received', 'collection.ingest_halted', 'collection.paused', 'collection.resumed',
      'region.linked', 'backup.created', 'backup.restored', 'token.created', 'token.revoked', 'grant.created'].map((t) => h('option', { value: t }, t)));
  const holder = h('div');
  function draw() {
    const extra = typeSel.value ? { type: typeSel.value } : {};
    holder.replaceChildren(pager('events', (c) => call('GET', ctx.base + '/events?' + cursorQuery(20, c, extra)), (r) => timeline(r.events, 'timeline')));
  }
  typeSel.addEventListener('change', draw);
  draw();
  return [h('p', { class: 'hint' }, 'The organisation\'s audit trail, newest first, 20 to a page.'),
    h('div', { class: 'filter' }, h('label', { for: 'event-type' }, 'Type'), typeSel), holder];
}

// collectionPage is one collection: its state, its documents paged, and its backups.
async function collectionPage(id, colID) {
  const base = orgBase(id);
  const [o, c] = await Promise.all([call('GET', base), call('GET', base + '/collections/' + encodeURIComponent(colID))]);
  const ctx = { id, base, org: o, operator: may('operator') };
  const msg = h('div', { 'aria-live': 'polite' });
  const docs = pager('documents', (cur) => call('GET', base + '/collections/' + c.id + '/documents?' + cursorQuery(10, cur)), (r) => r.documents.length
    ? table('Documents of ' + c.name, ['ID', 'Created', 'Document'], r.documents.map((d) => [h('span', { class: 'wrap' }, d.id), when(d.created_at),
      h('pre', { class: 'doc' }, JSON.stringify(d.data, null, 2))]))
    : empty('No documents yet: ingest them with POST …/collections/' + c.id + '/documents or cmekctl.', 'documents-empty'));
  page(c.name, h('p', { class: 'crumbs' }, h('a', { href: '#/orgs' }, 'Organisations'), ' / ', h('a', { href: '#/orgs/' + id }, o.name), ' / ', c.name),
    h('dl', { class: 'facts' }, h('dt', {}, 'ID'), h('dd', {}, c.id), h('dt', {}, 'Region'), h('dd', {}, c.region),
      h('dt', {}, 'State'), h('dd', { id: 'collection-state' }, badge(c.state), c.state_reason ? ' ' + c.state_reason : ''),
      h('dt', {}, 'Recoverable'), h('dd', {}, c.recoverable ? 'yes' : 'no')),
    msg, h('div', { class: 'row' }, ctx.operator ? backupButton(ctx, c, msg) : null, h('a', { href: '#/orgs/' + id + '/backups' }, 'Backups of this organisation')),
    h('div', { id: 'backup-progress', 'aria-live': 'polite' }),
    h('section', { 'aria-labelledby': 'documents' }, h('h2', { id: 'documents' }, 'Documents'), docs));
}

// orgTab is the function that draws tab; manage.js and scopes.js, which hold most of them, load after
// this file, so the table is built when it is asked.
function orgTab(tab) {
  return {
    overview, events: eventsTab, secrets: (ctx) => scopesSection(ctx.base),
    regions: regionsTab, backups: backupsTab, grants: grantsTab, 'key-events': keyEventsTab, webhooks: webhooksTab, access: accessTab,
  }[tab];
}
