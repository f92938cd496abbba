// cmekd console: the onboarding wizard — choose a provider, check the customer's key live in its
// region, show the access the platform needs, then create the organisation.
'use strict';

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
  const region = h('input', { id: 'org-region', name: 'region', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'org-region-hint' });
  const regionHint = h('p', { class: 'hint', id: 'org-region-hint' });
  let filled = '';
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
    region.placeholder = d.region;
    region.value = filled = '';
    regionHint.textContent = p === 'azure'
      ? 'The vault\'s Azure region, e.g. eastus: a key URL does not tell it, so it is yours to give.'
      : (p === 'aws' ? 'An ' : 'A ') + d.short + ' region this deployment serves, e.g. ' + d.region + '; the key must be in it. Left empty, the key\'s own.';
    results.replaceChildren();
  }
  async function check() {
    const p = provider;
    const keyID = keyInput.value.trim();
    // The region follows the key until someone types another.
    if (!region.value.trim() || region.value.trim() === filled) region.value = filled = regionOf(p, keyID);
    const where = region.value.trim();
    results.replaceChildren(h('p', {}, 'Checking…'));
    let res;
    try {
      res = await call('POST', '/v1/key-checks', Object.assign({ provider: p, key_id: keyID }, where ? { region: where } : {}));
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
    if (res.ok) parts.push(createForm(p, res.key_id || keyID, where));
    results.replaceChildren(...parts);
    announce(res.ok ? 'Every check passed' : failed.length + ' checks failed');
  }
  const form = h('form', { class: 'stack', onsubmit: (ev) => { ev.preventDefault(); busy(checkBtn, check); } },
    h('fieldset', { class: 'providers' }, h('legend', {}, 'Key provider'), h('div', { class: 'choices' }, choices)),
    h('div', {}, keyLabel, keyInput, keyHint),
    h('div', {}, h('label', { for: 'org-region' }, 'Region'), region, regionHint),
    h('div', {}, checkBtn));
  choose(provider);
  page('New organisation', intro, form, results);
}

// createForm names the organisation whose key passed its checks in region, with an optional backup
// key that the API checks and verifies like the data key.
function createForm(provider, keyID, region) {
  const d = PROVIDERS[provider];
  return form({ id: 'create-org' }, 'Create organisation', [
    h('h2', {}, 'Create the organisation'),
    h('p', { class: 'hint' }, 'The key link is permanent: an organisation never changes its key.'),
    h('dl', { class: 'facts' }, h('dt', {}, 'Provider'), h('dd', {}, d.name), h('dt', {}, d.keyLabel), h('dd', { class: 'arn' }, keyID),
      h('dt', {}, 'Region'), h('dd', { id: 'create-region' }, region || '—')),
    field('org-name', 'Organisation name', { required: true, autocomplete: 'organization', spellcheck: null }),
    field('org-backup-key', 'Backup key ' + d.keyName + ' (optional)', { placeholder: d.placeholder },
      'A second key of the same region and provider that wraps the data keys of backups; it may be the data key itself. Checked and linked for good like the data key.'),
  ], async () => {
    const backup = val('org-backup-key');
    const o = await call('POST', '/v1/orgs', { name: val('org-name'), region: val('org-region'),
      encryption: Object.assign({ mode: 'customer_managed', provider, key_id: keyID }, backup ? { backup_key_id: backup } : {}) });
    announce('Organisation created');
    go('#/orgs/' + o.id);
  });
}
