import { hasRole } from '../../auth/roles.decorator';
import type { OutboxRowView, OutboxServiceSummary } from '../../outbox/outbox.service';
import { formatAge, formatTime, href, html, type SafeHtml } from '../html';
import { pager, type PageContext } from '../layout';

export interface OutboxPageModel {
  services: OutboxServiceSummary[];
  stuckAfterMs: number;
  service: string | null;
  state: 'stuck' | 'dead';
  query: Record<string, string>;
  rows: { total: number; items: OutboxRowView[] } | null;
  limit: number;
  offset: number;
  error: string | null;
}

export function outboxPage(context: PageContext, model: OutboxPageModel): SafeHtml {
  const { base } = context;
  const operator = hasRole(context.principal, 'operator');
  if (model.services.length === 0) {
    return html`<p class="empty">
      No service databases are configured; the console shows outboxes of the services given in its
      <code>services</code> option.
    </p>`;
  }
  return html` <p class="note">
      A row pending longer than ${formatAge(model.stuckAfterMs)} is stuck: the relay has not managed to send it. Dead
      rows ran out of attempts and keep their last error. Requeue makes rows pending again with their attempts reset;
      discard deletes them, keeping their content in the audit log.
    </p>
    <table>
      <thead>
        <tr>
          <th>Service</th>
          <th>Database</th>
          <th>Pending</th>
          <th>Stuck</th>
          <th>Dead</th>
          <th>Oldest pending</th>
        </tr>
      </thead>
      <tbody>
        ${model.services.map(
          (service) => html`<tr${service.name === model.service ? html` aria-current="true"` : ''}>
    <td><a href="${href(base, 'outbox', { service: service.name })}">${service.name}</a></td>
    <td>${service.database}</td>
    ${
      service.counts
        ? html`<td>${service.counts.pending}</td>
            <td>
              <a href="${href(base, 'outbox', { service: service.name, state: 'stuck' })}">${service.counts.stuck}</a>
            </td>
            <td>
              <a href="${href(base, 'outbox', { service: service.name, state: 'dead' })}">${service.counts.dead}</a>
            </td>
            <td>${service.counts.oldestPendingAt === null ? '' : formatTime(service.counts.oldestPendingAt)}</td>`
        : html`<td colspan="4" class="error">${service.error}</td>`
    }
  </tr>`,
        )}
      </tbody>
    </table>

    ${
      model.service === null
        ? ''
        : html`<h2>${model.service}: ${model.state} rows</h2>
            <nav class="tabs" aria-label="Row state">
              <a
                href="${href(base, 'outbox', { service: model.service, state: 'stuck' })}"
                ${model.state === 'stuck' ? html` aria-current="page"` : ''}
                >Stuck</a
              >
              <a
                href="${href(base, 'outbox', { service: model.service, state: 'dead' })}"
                ${model.state === 'dead' ? html` aria-current="page"` : ''}
                >Dead</a
              >
            </nav>
            <form class="filters" method="get" action="${base}/outbox" aria-label="Filter outbox rows">
              <input type="hidden" name="service" value="${model.service}" />
              <input type="hidden" name="state" value="${model.state}" />
              <label>Topic <input name="topic" value="${model.query.topic ?? ''}" maxlength="255" /></label>
              <label>Business key <input name="key" value="${model.query.key ?? ''}" maxlength="255" /></label>
              <button type="submit">Filter</button>
            </form>
            ${model.error ? html`<p class="error" role="alert">${model.error}</p>` : ''}
            ${
              operator && model.rows && model.rows.total > 0
                ? html`<section class="actions" aria-label="Actions on outbox rows">
                    <form
                      data-endpoint="api/outbox/${model.service}/requeue"
                      data-selection="outbox-rows"
                      data-ids="ids"
                      data-reload
                    >
                      <fieldset>
                        <legend>Requeue selected</legend>
                        <label>Reason <input name="reason" maxlength="500" placeholder="optional" /></label>
                        <button type="submit">Requeue</button>
                      </fieldset>
                    </form>
                    <form
                      data-endpoint="api/outbox/${model.service}/discard"
                      data-selection="outbox-rows"
                      data-ids="ids"
                      data-confirm="Discard the selected outbox rows? They will never be sent."
                      data-reload
                    >
                      <fieldset>
                        <legend>Discard selected</legend>
                        <label>Reason <input name="reason" required maxlength="500" placeholder="required" /></label>
                        <button type="submit" class="danger">Discard</button>
                      </fieldset>
                    </form>
                  </section>`
                : ''
            }
            ${
              !model.rows || model.rows.items.length === 0
                ? html`<p class="empty">No ${model.state} rows.</p>`
                : html`<table class="sortable" id="outbox-rows">
                      <thead>
                        <tr>
                          ${operator ? html`<th><input type="checkbox" data-select-all="outbox-rows" aria-label="Select all on this page" /></th>` : ''}
                          <th data-sort="number">Seq</th>
                          <th data-sort="text">Message id</th>
                          <th data-sort="text">Topic</th>
                          <th data-sort="text">Key</th>
                          <th data-sort="number">Attempts</th>
                          <th data-sort="number">Created</th>
                          <th data-sort="number">Next attempt</th>
                          <th data-sort="text">Last error</th>
                          <th>Payload</th>
                        </tr>
                      </thead>
                      <tbody>
                        ${model.rows.items.map(
                          (row) =>
                            html`<tr>
                              ${operator ? html`<td><input type="checkbox" name="select" value="${row.id}" aria-label="Select row ${row.id}" ${row.leasedUntil ? html` disabled title="A relay is sending it"` : ''} /></td>` : ''}
                              <td data-value="${row.seq}">${row.seq}</td>
                              <td class="mono">${row.id}</td>
                              <td>${row.topic}</td>
                              <td class="mono">${row.key ?? ''}</td>
                              <td data-value="${row.attempts}">${row.attempts}</td>
                              <td data-value="${row.createdAt}">
                                ${formatTime(row.createdAt)} (${formatAge(row.ageMs)} ago)
                              </td>
                              <td data-value="${row.nextAttemptAt}">
                                ${row.status === 'dead' ? '–' : formatTime(row.nextAttemptAt)}
                              </td>
                              <td class="reason">${row.lastError ?? ''}</td>
                              <td>
                                <details>
                                  <summary>show</summary>
                                  <pre class="payload">${row.payload}</pre>
                                  <p>Headers: <span class="mono">${JSON.stringify(row.headers)}</span></p>
                                </details>
                              </td>
                            </tr>`,
                        )}
                      </tbody>
                    </table>
                    ${pager(base, 'outbox', { ...model.query, service: model.service, state: model.state }, model.rows.total, model.limit, model.offset)}`
            }`
    }`;
}
