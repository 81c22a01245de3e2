/// The fake vendor's page: plain HTML, CSS and vanilla JavaScript, embedded so the installed binary
/// needs no resource bundle. Served as three documents so the page runs under `default-src 'self'`.
///
/// Element ids are relied on by Tests/EndToEndTests/Resources/browser_test.py; keep them stable.
enum FakeVendorPage {
    static let html = #"""
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>tokenscan fake vendor</title>
    <link rel="icon" href="data:,">
    <link rel="stylesheet" href="/app.css">
    <script src="/app.js" defer></script>
    </head>
    <body>
    <header class="top">
      <h1>tokenscan fake vendor</h1>
      <p>Signs leaked-token reports as a secret-scanning vendor does and sends them to a receiver.
      Public keys: <a id="meta-link" href="/meta/public_keys/secret_scanning">/meta/public_keys/secret_scanning</a></p>
    </header>
    <div id="error" class="message error" role="alert" aria-live="assertive"></div>
    <div id="notice" class="message notice" aria-live="polite"></div>
    <main class="grid">
      <div class="column">
      <section class="card" id="keys-section" aria-labelledby="keys-heading">
        <h2 id="keys-heading">Signing keys</h2>
        <table id="keys-table">
          <caption class="visually-hidden">Published signing keys, in the order the key document lists them</caption>
          <thead><tr><th scope="col">Key id</th><th scope="col">Current</th><th scope="col">Created</th><th scope="col">Actions</th></tr></thead>
          <tbody></tbody>
        </table>
        <p id="keys-empty" class="hint">No keys yet. Create one to sign reports.</p>
        <button id="create-key" type="button">Create key</button>
      </section>

      <section class="card" id="report-section" aria-labelledby="report-heading">
        <h2 id="report-heading">Report</h2>
        <form id="report-form" class="fields" novalidate>
          <div class="field wide">
            <label for="token">Token</label>
            <input id="token" name="token" type="text" autocomplete="off" spellcheck="false" placeholder="pypi-AgEIcHlwaS5vcmc…">
          </div>
          <div class="field">
            <label for="type">Type</label>
            <input id="type" name="type" type="text" value="pypi_api_token" autocomplete="off" spellcheck="false">
          </div>
          <div class="field">
            <label for="source">Source</label>
            <input id="source" name="source" type="text" value="commit" autocomplete="off" spellcheck="false">
          </div>
          <div class="field wide">
            <label for="url">URL where it was found</label>
            <input id="url" name="url" type="text" value="https://github.com/example/project/blob/main/settings.py" autocomplete="off" spellcheck="false">
          </div>
          <div class="field">
            <label for="count">Items (1 to 10,000)</label>
            <input id="count" name="count" type="number" min="1" max="10000" step="1" value="1">
          </div>
          <div class="actions">
            <button id="build-report" type="submit">Build report</button>
          </div>
          <div class="field wide">
            <label for="payload">Payload (editable; sent exactly as written)</label>
            <textarea id="payload" name="payload" rows="5" spellcheck="false"></textarea>
          </div>
        </form>
      </section>

      </div>
      <div class="column">
      <section class="card" id="send-section" aria-labelledby="send-heading">
        <h2 id="send-heading">Send</h2>
        <form id="send-form" class="fields" novalidate>
          <div class="field">
            <label for="style">Vendor style</label>
            <select id="style" name="style">
              <option value="github">GitHub (Github-Public-Key-…)</option>
              <option value="depsdev">deps.dev (GOSST-Public-Key-…)</option>
              <option value="gitlab">GitLab (Gitlab-Public-Key-…)</option>
              <option value="custom">Custom header names</option>
            </select>
          </div>
          <div class="field">
            <label for="tamper">Tamper</label>
            <select id="tamper" name="tamper">
              <option value="none">None: sign correctly</option>
              <option value="wrong_signature">Wrong signature</option>
              <option value="unknown_key_id">Unknown key id</option>
              <option value="not_current_key">Sign with a key that is not current</option>
              <option value="malformed_json">Malformed JSON, signed correctly</option>
            </select>
          </div>
          <div class="field" id="custom-key-id-field" hidden>
            <label for="key-id-header">Key id header</label>
            <input id="key-id-header" name="key_id_header" type="text" autocomplete="off" spellcheck="false" placeholder="Acme-Key-Id">
          </div>
          <div class="field" id="custom-signature-field" hidden>
            <label for="signature-header">Signature header</label>
            <input id="signature-header" name="signature_header" type="text" autocomplete="off" spellcheck="false" placeholder="Acme-Signature">
          </div>
          <div class="field wide">
            <label for="target">Target URL</label>
            <input id="target" name="target" type="url" autocomplete="url" spellcheck="false" placeholder="http://127.0.0.1:8000/_/secrets/disclose-token">
          </div>
          <div class="actions wide">
            <button id="send" type="submit" class="primary">Send</button>
            <span class="hint">Signed with the current key unless Tamper says otherwise.</span>
          </div>
        </form>
      </section>

      <section class="card" id="result-section" aria-labelledby="result-heading">
        <h2 id="result-heading">Result</h2>
        <dl class="summary">
          <div><dt>Status</dt><dd><output id="result-status" class="status">—</output></dd></div>
          <div><dt>Time</dt><dd><output id="result-time">—</output></dd></div>
          <div><dt>Key id</dt><dd><output id="result-key">—</output></dd></div>
        </dl>
        <h3>Request headers</h3>
        <pre id="result-request-headers" tabindex="0" aria-label="Request headers">—</pre>
        <h3>Response headers</h3>
        <pre id="result-response-headers" tabindex="0" aria-label="Response headers">—</pre>
        <h3>Response body</h3>
        <pre id="result-body" tabindex="0" aria-label="Response body">—</pre>
      </section>

      </div>
      <section class="card full" id="history-section" aria-labelledby="history-heading">
        <h2 id="history-heading">History</h2>
        <table id="history-table">
          <caption class="visually-hidden">The last 50 sends, newest first</caption>
          <thead><tr><th scope="col">Time</th><th scope="col">Vendor</th><th scope="col">Tamper</th><th scope="col">Target</th><th scope="col">Status</th><th scope="col">Duration</th><th scope="col"><span class="visually-hidden">Details</span></th></tr></thead>
          <tbody></tbody>
        </table>
        <p id="history-empty" class="hint">Nothing sent yet.</p>
      </section>
    </main>
    </body>
    </html>
    """#

    static let style = #"""
    :root {
      --ink: #1d2329; --muted: #5b6670; --line: #d5dbe1; --card: #ffffff; --page: #f3f5f7;
      --accent: #1a5fb4; --good: #1e7b34; --bad: #b3261e; --focus: #ffbf47;
      font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
      font-size: 14px; line-height: 1.4; color: var(--ink); background: var(--page);
    }
    * { box-sizing: border-box; }
    body { margin: 0 auto; max-width: 1260px; padding: 12px 16px 32px; }
    h1 { font-size: 20px; margin: 0; }
    h2 { font-size: 16px; margin: 0 0 10px; }
    h3 { font-size: 13px; margin: 10px 0 4px; color: var(--muted); }
    .top { display: flex; align-items: baseline; gap: 16px; flex-wrap: wrap; margin-bottom: 8px; }
    .top p { margin: 0; color: var(--muted); }
    a { color: var(--accent); }
    .grid { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 12px; align-items: start; }
    .card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 12px 14px; }
    .full { grid-column: 1 / -1; }
    .column { display: flex; flex-direction: column; gap: 12px; min-width: 0; }
    .fields { display: grid; grid-template-columns: 1fr 1fr; gap: 8px 12px; align-items: end; }
    .field { display: flex; flex-direction: column; gap: 3px; min-width: 0; }
    .field[hidden] { display: none; }
    .wide { grid-column: 1 / -1; }
    label { font-weight: 600; font-size: 13px; }
    input, select, textarea {
      font: inherit; color: inherit; padding: 5px 7px; border: 1px solid #9aa5b1; border-radius: 4px;
      background: #fff; width: 100%;
    }
    textarea { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; resize: vertical; }
    button {
      font: inherit; padding: 5px 12px; border-radius: 4px; border: 1px solid #7d8893;
      background: #eef1f4; color: var(--ink); cursor: pointer;
    }
    button:hover:not(:disabled) { background: #e1e6eb; }
    button:disabled { color: #8a949e; cursor: default; }
    button.primary { background: var(--accent); border-color: var(--accent); color: #fff; font-weight: 600; }
    button.primary:hover:not(:disabled) { background: #164f96; }
    button.small { padding: 2px 8px; font-size: 12px; }
    :focus-visible { outline: 3px solid var(--focus); outline-offset: 1px; box-shadow: 0 0 0 5px var(--ink); }
    .actions { display: flex; align-items: center; gap: 10px; }
    .hint { color: var(--muted); font-size: 12px; margin: 6px 0; }
    table { width: 100%; border-collapse: collapse; margin-bottom: 8px; }
    th, td { text-align: left; padding: 4px 6px; border-bottom: 1px solid var(--line); vertical-align: middle; }
    th { font-size: 12px; color: var(--muted); font-weight: 600; }
    td.buttons, td.time { white-space: nowrap; }
    td.buttons button { margin-right: 3px; }
    td.target { max-width: 320px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
    code { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; }
    .badge { display: inline-block; padding: 0 6px; border-radius: 8px; font-size: 12px; background: #dcefe0; color: var(--good); font-weight: 600; }
    .message { margin: 0 0 8px; padding: 0; border-radius: 4px; }
    .message:not(:empty) { padding: 6px 10px; }
    .error:not(:empty) { background: #fbe9e7; border: 1px solid var(--bad); color: var(--bad); }
    .notice:not(:empty) { background: #e6f0fb; border: 1px solid var(--accent); color: #12406f; }
    .summary { display: flex; gap: 24px; margin: 0 0 4px; }
    .summary dt { font-size: 12px; color: var(--muted); }
    .summary dd { margin: 0; font-weight: 600; }
    .status { font-size: 18px; }
    .status.good { color: var(--good); }
    .status.bad { color: var(--bad); }
    pre {
      margin: 0; padding: 6px 8px; background: #f6f8fa; border: 1px solid var(--line); border-radius: 4px;
      font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; max-height: 150px;
      overflow: auto; white-space: pre-wrap; word-break: break-all;
    }
    .visually-hidden {
      position: absolute; width: 1px; height: 1px; margin: -1px; padding: 0; overflow: hidden;
      clip: rect(0 0 0 0); white-space: nowrap; border: 0;
    }
    """#

    static let script = #"""
    'use strict';
    (function () {
      const $ = (id) => document.getElementById(id);
      let keys = [];
      let history = [];

      function showError(text) { $('error').textContent = text; if (text) { $('notice').textContent = ''; } }
      function showNotice(text) { $('notice').textContent = text; }

      /** Calls the fake vendor's API; throws an Error carrying the API's words (and its JSON as .data). */
      async function api(method, path, body) {
        const options = { method: method, headers: {} };
        if (method === 'POST') {
          options.headers['Content-Type'] = 'application/json';
          options.body = JSON.stringify(body === undefined ? {} : body);
        }
        let response;
        try {
          response = await fetch(path, options);
        } catch (e) {
          throw new Error('The fake vendor did not answer (is it still running?): ' + e.message);
        }
        const text = await response.text();
        let data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (!response.ok) {
          const error = new Error((data && data.error) || ('The fake vendor answered HTTP ' + response.status));
          error.data = data;
          throw error;
        }
        return data;
      }

      function shortID(id) { return id.length > 12 ? id.slice(0, 12) + '…' : id; }
      /** Local time as YYYY-MM-DD HH:MM:SS. */
      function timeText(iso) {
        const d = new Date(iso);
        if (isNaN(d)) { return iso; }
        const p = (n) => String(n).padStart(2, '0');
        return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + ' '
          + p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds());
      }
      function headersText(list) {
        return list && list.length ? list.map((h) => h.name + ': ' + h.value).join('\n') : '(none)';
      }
      function button(text, className, label, handler) {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'small ' + className;
        b.textContent = text;
        b.setAttribute('aria-label', label);
        b.title = label;
        b.addEventListener('click', handler);
        return b;
      }

      function renderKeys(focus) {
        const body = $('keys-table').tBodies[0];
        body.textContent = '';
        keys.forEach((key, index) => {
          const row = body.insertRow();
          row.dataset.keyId = key.id;
          if (key.is_current) { row.classList.add('current'); }
          const idCell = row.insertCell();
          const code = document.createElement('code');
          code.textContent = shortID(key.id);
          code.title = key.id;
          idCell.appendChild(code);
          const currentCell = row.insertCell();
          currentCell.className = 'current-cell';
          if (key.is_current) {
            const badge = document.createElement('span');
            badge.className = 'badge';
            badge.textContent = 'current';
            currentCell.appendChild(badge);
          } else {
            currentCell.textContent = 'no';
          }
          const created = row.insertCell();
          created.className = 'time';
          created.textContent = timeText(key.created_at);
          const actions = row.insertCell();
          actions.className = 'buttons';
          const name = 'key ' + shortID(key.id);
          const make = button(key.is_current ? 'Current' : 'Make current', 'make-current', 'Make ' + name + ' current',
            () => keyAction(key.id, 'make-current', () => api('POST', '/api/keys/' + key.id + '/current'), 'Made ' + name + ' current.'));
          make.disabled = key.is_current;
          actions.appendChild(make);
          const up = button('↑', 'move-up', 'Move ' + name + ' up', () => move(key.id, -1));
          up.disabled = index === 0;
          actions.appendChild(up);
          const down = button('↓', 'move-down', 'Move ' + name + ' down', () => move(key.id, 1));
          down.disabled = index === keys.length - 1;
          actions.appendChild(down);
          actions.appendChild(button('Delete', 'delete-key', 'Delete ' + name,
            () => keyAction(key.id, 'delete-key', () => api('DELETE', '/api/keys/' + key.id), 'Deleted ' + name + '.')));
        });
        $('keys-empty').hidden = keys.length > 0;
        if (focus) { restoreFocus(focus); }
      }

      /** Puts focus back on the same button of the same key after the table is redrawn. */
      function restoreFocus(focus) {
        const rows = Array.from($('keys-table').tBodies[0].rows);
        const row = rows.find((r) => r.dataset.keyId === focus.id);
        let target = row && row.querySelector('.' + focus.className);
        if (!target || target.disabled) { target = row && row.querySelector('button:not(:disabled)'); }
        (target || $('create-key')).focus();
      }

      async function loadKeys() {
        const data = await api('GET', '/api/keys');
        keys = data.keys;
        renderKeys();
      }

      async function keyAction(id, className, call, notice) {
        try {
          const data = await call();
          keys = data.keys;
          showError('');
          showNotice(notice);
          renderKeys({ id: id, className: className });
        } catch (e) {
          showError(e.message);
        }
      }

      function move(id, step) {
        const ids = keys.map((k) => k.id);
        const from = ids.indexOf(id);
        const to = from + step;
        if (from < 0 || to < 0 || to >= ids.length) { return; }
        ids.splice(to, 0, ids.splice(from, 1)[0]);
        keyAction(id, step < 0 ? 'move-up' : 'move-down', () => api('POST', '/api/keys/order', { ids: ids }),
          'Moved key ' + shortID(id) + (step < 0 ? ' up.' : ' down.'));
      }

      async function createKey() {
        const b = $('create-key');
        b.disabled = true;
        try {
          const key = await api('POST', '/api/keys');
          await loadKeys();
          showError('');
          showNotice('Created key ' + shortID(key.id) + (key.is_current ? ', now current.' : '.'));
        } catch (e) {
          showError(e.message);
        } finally {
          b.disabled = false;
          b.focus();
        }
      }

      async function buildReport(event) {
        event.preventDefault();
        const count = Number($('count').value);
        if (!$('token').value) { showError('Type a token to report first.'); $('token').focus(); return; }
        if (!Number.isInteger(count) || count < 1 || count > 10000) {
          showError('Items must be a whole number from 1 to 10,000.');
          $('count').focus();
          return;
        }
        try {
          const data = await api('POST', '/api/build', {
            token: $('token').value, type: $('type').value, url: $('url').value,
            source: $('source').value, count: count
          });
          $('payload').value = data.payload;
          showError('');
          showNotice('Report built: ' + count + (count === 1 ? ' item.' : ' items.'));
        } catch (e) {
          showError(e.message);
        }
      }

      function showResult(send) {
        const status = $('result-status');
        status.textContent = send.status === null || send.status === undefined ? 'no answer' : String(send.status);
        status.className = 'status ' + (send.status >= 200 && send.status < 300 ? 'good' : 'bad');
        $('result-time').textContent = send.duration_ms + ' ms';
        const key = $('result-key');
        key.textContent = shortID(send.key_id);
        key.title = send.key_id;
        $('result-request-headers').textContent = headersText(send.request_headers);
        $('result-response-headers').textContent = send.error ? '(no answer)' : headersText(send.response_headers);
        $('result-body').textContent = send.error ? send.error
          : (send.response_body ? send.response_body + (send.response_body_truncated ? '\n… (cut)' : '') : '(empty)');
      }

      async function send(event) {
        event.preventDefault();
        const payload = $('payload').value;
        if (!payload) { showError('Build a report or type a payload first.'); $('payload').focus(); return; }
        const b = $('send');
        b.disabled = true;
        b.textContent = 'Sending…';
        showNotice('Sending…');
        try {
          const data = await api('POST', '/api/send', {
            style: $('style').value, tamper: $('tamper').value, target: $('target').value, body: payload,
            key_id_header: $('key-id-header').value, signature_header: $('signature-header').value
          });
          showResult(data);
          showError('');
          showNotice('Sent. The receiver answered ' + data.status + ' in ' + data.duration_ms + ' ms.');
        } catch (e) {
          if (e.data && e.data.request_headers) { showResult(e.data); }
          showError(e.message);
          showNotice('');
        } finally {
          b.disabled = false;
          b.textContent = 'Send';
          loadHistory().catch((e) => showError(e.message));
        }
      }

      function renderHistory() {
        const body = $('history-table').tBodies[0];
        body.textContent = '';
        history.forEach((entry) => {
          const row = body.insertRow();
          const when = row.insertCell();
          when.className = 'time';
          when.textContent = timeText(entry.time);
          row.insertCell().textContent = entry.style;
          row.insertCell().textContent = entry.tamper;
          const target = row.insertCell();
          target.className = 'target';
          target.textContent = entry.target;
          target.title = entry.target;
          row.insertCell().textContent = entry.status === null || entry.status === undefined ? 'no answer' : String(entry.status);
          row.insertCell().textContent = entry.duration_ms + ' ms';
          const cell = row.insertCell();
          cell.appendChild(button('Show', 'show-send', 'Show the send of ' + timeText(entry.time) + ' in Result', () => {
            showResult(entry);
            $('result-status').focus();
          }));
        });
        $('history-empty').hidden = history.length > 0;
      }

      async function loadHistory() {
        const data = await api('GET', '/api/history');
        history = data.history;
        renderHistory();
      }

      function styleChanged() {
        const custom = $('style').value === 'custom';
        $('custom-key-id-field').hidden = !custom;
        $('custom-signature-field').hidden = !custom;
      }

      async function start() {
        $('create-key').addEventListener('click', createKey);
        $('report-form').addEventListener('submit', buildReport);
        $('send-form').addEventListener('submit', send);
        $('style').addEventListener('change', styleChanged);
        $('result-status').tabIndex = -1;
        styleChanged();
        try {
          const config = await api('GET', '/api/config');
          if (!$('target').value) { $('target').value = config.target; }
          await loadKeys();
          await loadHistory();
          document.body.dataset.ready = 'true';
        } catch (e) {
          showError(e.message);
        }
      }

      start();
    })();
    """#
}
