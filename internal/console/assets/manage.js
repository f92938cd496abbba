// cmekd console: what an owner or operator manages in an organisation — regions, backups, grants,
// key events, webhooks, tokens and workspaces — each a tab of the organisation's page.
'use strict';

// section is a titled part of a tab.
function section(id, title, ...children) {
  return h('section', { 'aria-labelledby': id }, h('h2', { id }, title), ...children);
}

// textTabs shows several texts, one at a time, as tabs with a copy button (the arrow keys move
// between tabs).
function textTabs(id, label, entries) {
  const pre = h('pre', { id, tabindex: '0', role: 'tabpanel' });
  let shown = 0;
  const tabs = entries.map(([name], i) => h('button', { type: 'button', role: 'tab', id: id + '-tab-' + i, 'aria-controls': id,
    onclick: () => show(i),
    onkeydown: (ev) => {
      const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: entries.length - 1 }[ev.key];
      if (to === undefined) return;
      ev.preventDefault();
      show((to + entries.length) % entries.length);
      tabs[shown].focus();
    } }, name));
  function show(i) {
    shown = i;
    tabs.forEach((t, j) => { t.setAttribute('aria-selected', String(i === j)); t.tabIndex = i === j ? 0 : -1; });
    pre.setAttribute('aria-labelledby', id + '-tab-' + i);
    pre.textContent = entries[i][1];
  }
  show(0);
  return h('div', { class: 'access' }, h('div', { role: 'tablist', 'aria-label': label }, tabs), pre,
    h('div', { class: 'row' }, copyButton(() => pre.textContent, label, id + '-copy')));
}

// ---- regions ----

// regionCheck is the button that checks the region's key live in that region, storing nothing, and
// shows the checks and the access to grant in results.
function regionCheck(provider, results) {
  return button('Check key', (ev) => busy(ev.currentTarget, async () => {
    results.replaceChildren(h('p', {}, 'Checking…'));
    try {
      const keyID = val('region-key');
      const res = await call('POST', '/v1/key-checks', { provider, key_id: keyID, region: val('region-name') });
      results.replaceChildren(h('h3', {}, 'Checks of the key in ' + val('region-name')), checksTable(res.checks),
        h('p', { class: res.ok ? 'ok' : 'bad', id: 'region-check-verdict' }, res.ok ? 'Every check passed: add the region.' : 'A check failed: grant the access below, then check again.'),
        res.checks[0] && res.checks[0].ok ? accessPanel(provider, res.key_id || keyID) : null);
    } catch (e) {
      results.replaceChildren(errorBox(e));
    }
  }), { class: 'secondary', id: 'region-check' });
}

async function regionsTab(ctx) {
  const { base, org: o } = ctx;
  const provider = o.encryption.provider || 'aws';
  const cmek = o.encryption.mode === 'customer_managed';
  const d = PROVIDERS[provider] || PROVIDERS.aws;
  const list = h('div', { id: 'regions-body' });
  const progress = h('div', { id: 'region-progress', 'aria-live': 'polite' });
  const results = h('div', { id: 'region-results', 'aria-live': 'polite' });
  let pending = null;
  async function refresh() {
    const l = await call('GET', base + '/regions');
    const rows = l.regions.map((r) => [r.region, r.home ? 'home' : 'replica', h('span', { class: 'arn' }, r.key_id || r.key_arn || 'the platform\'s key'),
      h('span', { class: 'arn' }, r.backup_key_id || r.backup_key_arn || '—'), badge(r.status), when(r.created_at)]);
    if (pending) rows.push([pending, 'replica', '…', '…', badge('creating'), '—']);
    if (!changed(list, [l.regions, pending])) return;
    list.replaceChildren(table('Regions', ['Region', 'Role', 'Data key', 'Backup key', 'Key', 'Linked'], rows));
  }
  await refresh();
  every(refresh);
  const check = regionCheck(provider, results);
  const add = form({ id: 'add-region' }, 'Add region', [
    field('region-name', 'Region', { required: true, placeholder: d.region }),
    cmek ? field('region-key', d.keyLabel + (provider === 'aws' ? ' (optional)' : ''), { placeholder: d.placeholder },
      provider === 'aws' ? 'Empty: the replica of the multi-region home key in this region (same mrk- id). Give any key of the region otherwise.'
        : 'A key of this region; the key link is for good.') : h('p', { class: 'hint' }, 'The platform\'s own key serves the region, where it has one.'),
    cmek ? field('region-backup-key', 'Backup ' + d.keyName + ' (optional)', { placeholder: d.placeholder },
      'A second key of the region that wraps the data keys of its backups.') : null,
    cmek ? h('div', { class: 'row' }, check, h('span', { class: 'hint' }, 'runs every check live, in this region, storing nothing')) : null,
  ], async () => {
    const region = val('region-name');
    const body = { region };
    if (cmek && val('region-key')) body.key_id = val('region-key');
    if (cmek && val('region-backup-key')) body.backup_key_id = val('region-backup-key');
    pending = region;
    progress.replaceChildren(h('p', { id: 'region-creating' }, badge('creating'), ' Verifying the key in ' + region + ' and linking it…'));
    await refresh();
    try {
      const r = await call('POST', base + '/regions', body);
      progress.replaceChildren(h('p', { class: 'ok', id: 'region-created' }, r.region + ' is active: collections may live there now.'));
      announce(r.region + ' added');
    } catch (e) {
      progress.replaceChildren();
      throw e;
    } finally {
      pending = null;
      await refresh();
    }
  });
  return [
    h('p', { class: 'hint' }, 'Every region the organisation uses has its own key link, verified before the region is usable and kept for good.'),
    list, ctx.operator ? section('add-region-title', 'Add a region', progress, add, results) : null,
  ];
}

// ---- backups ----

// backupButton takes a backup of collection c and follows it until it is done.
function backupButton(ctx, c, msg) {
  return button('Back up', (ev) => busy(ev.currentTarget, async () => {
    msg.replaceChildren();
    const out = document.getElementById('backup-progress');
    try {
      let b = await call('POST', ctx.base + '/collections/' + c.id + '/backups');
      while (b.state === 'running' && out.isConnected) {
        out.replaceChildren(h('p', {}, badge('running'), ' Backing up ' + c.name + ': ' + b.documents + ' documents copied…'));
        await new Promise((r) => setTimeout(r, 700));
        b = await call('GET', ctx.base + '/backups/' + b.id);
      }
      out.replaceChildren(h('p', { class: b.state === 'complete' ? 'ok' : 'bad', id: 'backup-done' },
        'Backup ' + b.id + ' of ' + c.name + ': ' + b.state + ', ' + b.documents + ' documents. ', h('a', { href: '#/orgs/' + ctx.id + '/backups' }, 'See the backups')));
      announce('Backup ' + b.state);
    } catch (e) {
      msg.replaceChildren(errorBox(e));
    }
  }), { class: 'secondary', 'aria-label': 'Back up ' + c.name });
}

async function backupsTab(ctx) {
  const { base, id } = ctx;
  const msg = h('div', { 'aria-live': 'polite' });
  const list = h('div', { id: 'backups-body' });
  const pick = h('select', { id: 'restore-backup', name: 'backup', required: true });
  let names = {};
  async function refresh() {
    const [l, cols] = await Promise.all([call('GET', base + '/backups?limit=100'), call('GET', base + '/collections?limit=500')]);
    names = Object.fromEntries(cols.collections.map((c) => [c.id, c.name]));
    if (!changed(list, [l.backups, names])) return;
    list.replaceChildren(l.backups.length ? table('Backups', ['ID', 'Collection', 'Region', 'State', 'Documents', 'Taken', 'Finished', 'Actions'], l.backups.map((b) => [
      h('span', { class: 'wrap' }, b.id), names[b.collection_id] ? h('a', { href: '#/orgs/' + id + '/collections/' + b.collection_id }, names[b.collection_id]) : b.collection_id + ' (deleted)',
      b.region, badge(b.state), String(b.documents), when(b.created_at), when(b.finished_at),
      ctx.operator ? h('div', { class: 'row tight' },
        b.state === 'complete' ? button('Restore', () => { pick.value = b.id; document.getElementById('restore-name').focus(); }, { class: 'secondary', 'aria-label': 'Restore ' + b.id }) : null,
        act(msg, refresh, 'Delete', () => call('DELETE', base + '/backups/' + b.id), { class: 'secondary danger', 'aria-label': 'Delete ' + b.id })) : '—']))
      : empty('No backups yet. Take one with Back up beside a collection on the Overview.', 'backups-empty'));
    const keep = pick.value;
    pick.replaceChildren(...l.backups.filter((b) => b.state === 'complete').map((b) => h('option', { value: b.id }, b.id + ' · ' + (names[b.collection_id] || b.collection_id) + ' · ' + b.documents + ' documents')));
    if (keep) pick.value = keep;
  }
  await refresh();
  every(refresh);
  const restore = form({ id: 'restore' }, 'Restore', [
    h('div', {}, h('label', { for: 'restore-backup' }, 'Backup'), pick),
    field('restore-name', 'New collection name', { required: true }, 'A new collection in the backup\'s region, holding every document of the backup.'),
  ], async () => {
    const c = await call('POST', base + '/backups/' + encodeURIComponent(pick.value) + '/restore', { name: val('restore-name') });
    msg.replaceChildren(h('p', { class: 'ok', id: 'restored' }, 'Restored into ', h('a', { href: '#/orgs/' + id + '/collections/' + c.id }, c.name), '.'));
    await refresh();
    announce('Restored');
  });
  return [h('p', { class: 'hint' }, 'A backup is a consistent copy of a collection, its data keys re-wrapped under the region\'s backup key; backups outlive their collection.'),
    msg, list, ctx.operator ? section('restore-title', 'Restore a backup', restore) : null];
}

// ---- grants ----

async function grantsTab(ctx) {
  const { base } = ctx;
  const msg = h('div', { 'aria-live': 'polite' });
  const list = h('div', { id: 'grants-body' });
  function draw(l) {
    list.replaceChildren(l.grants.length ? table('Grants', ['Grant', 'Region', 'Purpose', 'Grantee', 'Operations', 'Status', 'Created'], l.grants.map((g) => [
      h('div', {}, h('span', { class: 'wrap' }, g.name), h('div', { class: 'hint arn' }, 'id ' + g.grant_id)), g.region, g.purpose, h('span', { class: 'arn' }, g.grantee_principal),
      g.operations.join(', '), badge(g.status), when(g.created_at)]))
      : empty('No grants: this deployment reaches keys as one identity, or the organisation uses the platform\'s key. Grants appear when the platform runs a separate data identity.', 'grants-empty'));
  }
  draw(await call('GET', base + '/grants'));
  const renew = button('Renew grants', (ev) => busy(ev.currentTarget, async () => {
    msg.replaceChildren();
    try {
      const l = await call('POST', base + '/grants/renew');
      draw(l);
      const n = l.grants.filter((g) => g.status === 'active').length;
      msg.replaceChildren(h('p', { class: 'ok', id: 'grants-renewed' }, 'Renewed: ' + n + ' active grant' + (n === 1 ? '' : 's') + '; every key was probed.'));
    } catch (e) {
      msg.replaceChildren(errorBox(e));
    }
  }), { id: 'renew-grants' });
  return [h('p', { class: 'hint' }, 'cmekd never re-creates a grant the customer revoked by itself: renewing is the customer\'s act, after which the keys are verified with new grants and probed.'),
    msg, list, ctx.operator ? h('div', { class: 'row' }, renew) : null];
}

// ---- key events ----

async function keyEventsTab(ctx) {
  const { base, owner } = ctx;
  const status = h('div', { id: 'key-events-status' });
  const shown = h('div', { id: 'key-events-setup' });
  const msg = h('div', { 'aria-live': 'polite' });
  const actions = h('div', { class: 'row' });
  async function refresh() {
    const s = await call('GET', base + '/key-events');
    if (!changed(status, s)) return;
    status.replaceChildren(h('dl', { class: 'facts' },
      h('dt', {}, 'Key events'), h('dd', { id: 'key-events-state' }, badge(s.configured ? 'on' : 'off')),
      s.configured ? [
        h('dt', {}, 'Endpoint'), h('dd', { class: 'arn' }, s.endpoint),
        h('dt', {}, 'Turned on'), h('dd', {}, when(s.created_at)),
        h('dt', {}, 'Events received'), h('dd', { id: 'key-events-received' }, String(s.events_received) + ' (' + s.events_matched + ' about a linked key)'),
        h('dt', {}, 'Last event'), h('dd', { id: 'key-events-last' }, s.last_event_at ? [s.last_event_name + ' · ', when(s.last_event_at)] : 'none yet')] : []));
    actions.replaceChildren(...(!owner ? [h('p', { class: 'hint' }, 'Only an owner turns key events on or off.')] : s.configured
      ? [act(msg, refresh, 'Rotate api key', enable, { class: 'secondary', id: 'key-events-rotate' }),
        act(msg, async () => { shown.replaceChildren(); await refresh(); }, 'Turn off', () => call('DELETE', base + '/key-events'), { class: 'secondary danger', id: 'key-events-off' })]
      : [act(msg, refresh, 'Turn on key events', enable, { id: 'key-events-on' })]));
  }
  async function enable() {
    const r = await call('POST', base + '/key-events');
    shown.replaceChildren(once('key-events-api-key', 'api key (' + r.api_key_name + ' header)', r.api_key),
      h('h3', {}, 'Set up in the customer\'s AWS account'),
      h('p', { class: 'hint' }, 'An EventBridge connection with the api key, an API destination to ' + r.endpoint + ', a rule on the default bus and its target, and the IAM role EventBridge uses. Each form holds the api key.'),
      textTabs('key-events-setup-text', 'Setup format', [['AWS CLI', r.setup.cli], ['Terraform', r.setup.terraform],
        ['CloudFormation', r.setup.cloudformation], ['Event pattern', JSON.stringify(r.setup.event_pattern, null, 2)]]));
  }
  await refresh();
  every(refresh);
  return [h('p', { class: 'hint' }, 'AWS KMS events about the organisation\'s keys (disable, schedule deletion, policy changes…) make cmekd probe the key at once instead of at the next probe; the probe decides.'),
    status, msg, actions, shown];
}

// ---- webhooks ----

const WEBHOOK_EVENTS = ['key.unavailable', 'key.restored', 'collection.ingest_halted', 'collection.paused', 'collection.resumed', 'region.linked', 'backup.created'];

async function webhooksTab(ctx) {
  const { base } = ctx;
  const msg = h('div', { 'aria-live': 'polite' });
  const list = h('div', { id: 'webhooks-body' });
  const created = h('div', { id: 'webhook-created' });
  const deliveries = h('div', { id: 'deliveries' });
  async function refresh() {
    const l = await call('GET', base + '/webhooks?limit=100');
    list.replaceChildren(l.webhooks.length ? table('Webhooks', ['URL', 'Events', 'Status', 'Created', 'Actions'], l.webhooks.map((w) => [
      h('span', { class: 'wrap' }, w.url), w.events.join(', '), badge(w.status), when(w.created_at),
      h('div', { class: 'row tight' },
        button('Deliveries', () => showDeliveries(w), { class: 'secondary', 'aria-label': 'Deliveries of ' + w.url }),
        act(msg, async () => { await refresh(); showDeliveries(w); }, 'Send test', () => call('POST', base + '/webhooks/' + w.id + '/test'), { class: 'secondary', 'aria-label': 'Send a test to ' + w.url }),
        act(msg, async () => { deliveries.replaceChildren(); await refresh(); }, 'Delete', () => call('DELETE', base + '/webhooks/' + w.id), { class: 'secondary danger', 'aria-label': 'Delete ' + w.url }))]))
      : empty('No webhooks yet: add one to hear of key trouble when it starts.', 'webhooks-empty'));
  }
  function showDeliveries(w) {
    const path = base + '/webhooks/' + w.id + '/deliveries?';
    const render = (r) => r.deliveries.length ? table('Deliveries', ['At', 'Event', 'Attempt', 'Status', 'Latency', 'Error'], r.deliveries.map((x) => [
      when(x.at), x.type, String(x.attempt), x.status_code === null ? 'no answer' : String(x.status_code), x.latency_ms + ' ms', x.error || '—']))
      : empty('No deliveries yet.', 'deliveries-empty');
    deliveries.replaceChildren(h('h3', {}, 'Deliveries to ' + w.url), pager('deliveries', (c) => call('GET', path + cursorQuery(20, c)), render));
    every(async () => {
      if (document.getElementById('deliveries-page') && document.getElementById('deliveries-page').textContent === 'Page 1') {
        const r = await call('GET', path + cursorQuery(20, ''));
        document.getElementById('deliveries-body').replaceChildren(render(r));
      }
    });
  }
  await refresh();
  const boxes = ['*', ...WEBHOOK_EVENTS].map((e, i) => h('label', { class: 'check', for: 'wh-event-' + i },
    h('input', { type: 'checkbox', id: 'wh-event-' + i, value: e, checked: e === '*' }), e === '*' ? 'Every event (*)' : e));
  const add = form({ id: 'add-webhook' }, 'Add webhook', [
    field('webhook-url', 'URL', { required: true, type: 'url', placeholder: 'https://hooks.example.com/cmekd' }, 'https to a public address; deliveries are signed with the secret shown once.'),
    h('fieldset', { class: 'events' }, h('legend', {}, 'Events'), h('div', { class: 'checks' }, boxes)),
  ], async () => {
    const events = boxes.map((b) => b.querySelector('input')).filter((i) => i.checked).map((i) => i.value);
    const w = await call('POST', base + '/webhooks', { url: val('webhook-url'), events: events.includes('*') ? ['*'] : events });
    created.replaceChildren(once('webhook-secret', 'signing secret of ' + w.url, w.secret));
    document.getElementById('webhook-url').value = '';
    await refresh();
  });
  return [msg, created, list, deliveries, section('add-webhook-title', 'Add a webhook', add)];
}

// ---- tokens and workspaces ----

async function accessTab(ctx) {
  const { base, owner, operator } = ctx;
  const msg = h('div', { 'aria-live': 'polite' });
  const tokens = h('div', { id: 'tokens-body' });
  const spaces = h('div', { id: 'workspaces-body' });
  const created = h('div', { id: 'token-created' });
  const wsPick = h('select', { id: 'token-workspace', name: 'workspace' });
  async function refresh() {
    const [ws, tl] = await Promise.all([operator ? call('GET', base + '/workspaces?limit=500') : { workspaces: [] },
      owner ? call('GET', base + '/tokens?limit=500') : null]);
    spaces.replaceChildren(ws.workspaces.length ? table('Workspaces', ['Name', 'ID', 'Created', 'Actions'], ws.workspaces.map((w) => [w.name, w.id, when(w.created_at),
      act(msg, refresh, 'Delete', () => call('DELETE', base + '/workspaces/' + encodeURIComponent(w.name)), { class: 'secondary danger', 'aria-label': 'Delete workspace ' + w.name })]))
      : empty('No workspaces yet. A workspace is what materialization jobs act as: give it a token and a reader role on a secret scope.', 'workspaces-empty'));
    wsPick.replaceChildren(...ws.workspaces.map((w) => h('option', { value: w.name }, w.name)));
    if (tl) {
      tokens.replaceChildren(tl.tokens.length ? table('Tokens', ['Name', 'Role', 'Workspace', 'ID', 'Created', 'Actions'], tl.tokens.map((t) => [t.name, badge(t.role), t.workspace || '—',
        h('span', { class: 'wrap' }, t.id), when(t.created_at),
        act(msg, refresh, 'Revoke', () => call('DELETE', base + '/tokens/' + t.id), { class: 'secondary danger', 'aria-label': 'Revoke ' + t.name })]))
        : empty('No tokens yet.', 'tokens-empty'));
    }
  }
  await refresh();
  const role = h('select', { id: 'token-role', name: 'role' }, ['operator', 'member', 'owner', 'workspace'].map((r) => h('option', { value: r }, r)));
  const wsField = h('div', { hidden: true }, h('label', { for: 'token-workspace' }, 'Workspace'), wsPick);
  role.addEventListener('change', () => { wsField.hidden = role.value !== 'workspace'; });
  const addToken = form({ id: 'add-token' }, 'Create token', [
    field('token-name', 'Token name', { required: true, placeholder: 'ci-deploy' }),
    h('div', {}, h('label', { for: 'token-role' }, 'Role'), role,
      h('p', { class: 'hint' }, 'owner: everything, tokens and webhooks included · operator: regions, collections, backups, grants · member: reads · workspace: reads the secrets its workspace is granted')),
    wsField,
  ], async () => {
    const body = { name: val('token-name'), role: role.value };
    if (role.value === 'workspace') body.workspace = wsPick.value;
    const t = await call('POST', base + '/tokens', body);
    created.replaceChildren(once('token-secret', 'token ' + t.name, t.token));
    document.getElementById('token-name').value = '';
    await refresh();
  });
  const addSpace = form({ id: 'add-workspace' }, 'Create workspace', [field('workspace-name', 'Workspace name', { required: true })], async () => {
    await call('POST', base + '/workspaces', { name: val('workspace-name') });
    document.getElementById('workspace-name').value = '';
    await refresh();
    announce('Workspace created');
  });
  return [msg,
    section('tokens', 'Tokens', owner ? [created, tokens, h('details', {}, h('summary', {}, 'Create a token'), addToken)]
      : h('p', { class: 'hint', id: 'tokens-owner-only' }, 'Only an owner creates, lists and revokes the organisation\'s tokens.')),
    section('workspaces', 'Workspaces', operator ? [spaces, h('details', {}, h('summary', {}, 'Create a workspace'), addSpace)]
      : h('p', { class: 'hint', id: 'workspaces-operator-only' }, 'Only an operator or an owner lists and manages the organisation\'s workspaces.'))];
}
