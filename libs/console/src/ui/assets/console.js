/* global document, window, fetch, setTimeout, URLSearchParams */
// The console's only script: sortable tables, selections, and forms that call the JSON API. It never builds
// markup from data: every text it shows goes through textContent.
'use strict';

(function () {
  const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.getAttribute('content') ?? '';
  const base = meta('console-base');
  const csrf = meta('csrf-token');
  const DEDUP_CODE = 'DEDUP_WINDOW_CONFIRMATION_REQUIRED';

  function show(text, isError) {
    const target = document.querySelector('[data-result]');
    if (!target) return;
    target.textContent = text;
    target.classList.toggle('error', Boolean(isError));
    target.classList.toggle('ok', !isError);
    if (isError) target.focus?.();
  }

  async function api(method, path, body) {
    const response = await fetch(`${base}/${path}`, {
      method,
      credentials: 'same-origin',
      headers: {
        Accept: 'application/json',
        'x-csrf-token': csrf,
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    return { status: response.status, data };
  }

  function messageOf(data, status) {
    if (data && typeof data === 'object') {
      const message = Array.isArray(data.message) ? data.message.join('; ') : data.message;
      if (message) return String(message);
    }
    return `The request failed (HTTP ${status}).`;
  }

  // ------------------------------------------------------------- sortable tables
  function sortTable(table, column, kind, button) {
    const body = table.tBodies[0];
    if (!body) return;
    const header = button.closest('th');
    const ascending = header.getAttribute('aria-sort') !== 'ascending';
    for (const th of table.tHead.rows[0].cells) th.removeAttribute('aria-sort');
    header.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
    const value = (row) => {
      const cell = row.cells[column];
      const raw = cell?.dataset.value ?? cell?.textContent ?? '';
      return kind === 'number' ? Number(raw) : raw.trim().toLowerCase();
    };
    const rows = [...body.rows].sort((a, b) => {
      const x = value(a);
      const y = value(b);
      const order = x < y ? -1 : x > y ? 1 : 0;
      return ascending ? order : -order;
    });
    for (const row of rows) body.appendChild(row);
  }

  for (const table of document.querySelectorAll('table.sortable')) {
    const headers = table.tHead?.rows[0]?.cells ?? [];
    [...headers].forEach((th, column) => {
      const kind = th.dataset.sort;
      if (!kind) return;
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'sort';
      button.textContent = th.textContent;
      button.title = 'Sort by this column';
      th.textContent = '';
      th.appendChild(button);
      button.addEventListener('click', () => sortTable(table, column, kind, button));
    });
  }

  // ------------------------------------------------------------------ selections
  for (const all of document.querySelectorAll('[data-select-all]')) {
    all.addEventListener('change', () => {
      const table = document.getElementById(all.dataset.selectAll);
      for (const box of table?.querySelectorAll('input[name="select"]:not(:disabled)') ?? []) box.checked = all.checked;
    });
  }

  function selected(tableId, type) {
    const table = document.getElementById(tableId);
    const values = [...(table?.querySelectorAll('input[name="select"]:checked') ?? [])].map((box) => box.value);
    return type === 'number' ? values.map(Number) : values;
  }

  // ------------------------------------------------------------------ API forms
  function bodyOf(form) {
    const body = {};
    for (const field of form.elements) {
      if (!field.name || field.disabled || field.type === 'submit') continue;
      if (field.value === '' && !field.required) continue;
      if (field.dataset.json !== undefined) {
        try {
          body[field.name] = JSON.parse(field.value);
        } catch (error) {
          throw new Error(`${field.name} is not valid JSON: ${error.message}`);
        }
      } else if (field.type === 'number') {
        body[field.name] = Number(field.value);
      } else if (field.type === 'checkbox') {
        body[field.name] = field.checked;
      } else {
        body[field.name] = field.value;
      }
    }
    if (form.dataset.selection) {
      const ids = selected(form.dataset.selection, form.dataset.idType);
      if (ids.length === 0) throw new Error('Select at least one row first.');
      body[form.dataset.ids || 'ids'] = ids;
    }
    return body;
  }

  function describe(data) {
    if (!data || typeof data !== 'object') return 'Done.';
    if (data.state && data.total !== undefined)
      return `Bulk retry started: ${data.total} messages at ${data.ratePerSec}/s.`;
    const parts = [];
    for (const [name, value] of Object.entries(data)) {
      if (Array.isArray(value)) parts.push(`${name}: ${value.length}`);
      else if (typeof value === 'number') parts.push(`${name}: ${value}`);
    }
    return parts.length ? `Done (${parts.join(', ')}).` : 'Done.';
  }

  async function submit(form) {
    const method = form.dataset.method || 'POST';
    let body;
    try {
      body = method === 'DELETE' ? undefined : bodyOf(form);
    } catch (error) {
      show(error.message, true);
      return;
    }
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    const buttons = form.querySelectorAll('button');
    for (const button of buttons) button.disabled = true;
    try {
      let result = await api(method, form.dataset.endpoint, body);
      if (result.status === 409 && result.data?.code === DEDUP_CODE) {
        const question = `${result.data.message}\n\nRetry anyway? The handler will run again for these messages.`;
        if (!window.confirm(question)) {
          show('Not retried: the dedup-window warning was not confirmed.', true);
          return;
        }
        result = await api(method, form.dataset.endpoint, { ...body, confirmDedupWindow: true });
      }
      if (result.status === 401) {
        window.location.assign(
          `${base}/login?next=${encodeURIComponent(window.location.pathname + window.location.search)}`,
        );
        return;
      }
      if (result.status >= 400) {
        show(messageOf(result.data, result.status), true);
        return;
      }
      if (form.dataset.after === 'login') {
        window.location.assign(`${base}/login`);
        return;
      }
      show(describe(result.data), false);
      if (form.dataset.reload !== undefined) setTimeout(() => window.location.reload(), 700);
    } catch (error) {
      show(`The request failed: ${error.message}`, true);
    } finally {
      for (const button of buttons) button.disabled = false;
    }
  }

  for (const form of document.querySelectorAll('form[data-endpoint]')) {
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      void submit(form);
    });
  }

  // ------------------------------------------------------------ bulk retry progress
  async function follow(element) {
    for (let round = 0; round < 100_000; round++) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const { status, data } = await api('GET', `api/jobs/${encodeURIComponent(element.dataset.jobId)}`);
      if (status !== 200 || !data) return;
      const text = element.querySelector('[data-job-text]');
      if (text)
        text.textContent = `${data.state}, ${data.resent} resent, ${data.skipped} skipped, ${data.failed} failed of ${data.total}`;
      const progress = element.querySelector('[data-job-progress]');
      if (progress) progress.value = data.total - data.remaining;
      if (data.state !== 'running') {
        for (const form of element.querySelectorAll('form')) form.remove();
        return;
      }
    }
  }
  for (const job of document.querySelectorAll('[data-job-id][data-job-state="running"]')) void follow(job);

  // Keep the query string of filter forms short: empty fields are left out of the URL.
  for (const form of document.querySelectorAll('form.filters')) {
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const params = new URLSearchParams();
      for (const field of form.elements) {
        if (field.name && field.value !== '') params.set(field.name, field.value);
      }
      const query = params.toString();
      window.location.assign(`${form.getAttribute('action')}${query ? `?${query}` : ''}`);
    });
  }
})();
