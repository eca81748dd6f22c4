import { hasRole } from '../auth/roles.decorator';
import type { OutboxRowSortColumn } from './outbox.dto';
import type { OutboxRowView, OutboxServiceSummary } from './outbox.service';
import { sortSpec } from '../http/sort';
import { formatAge, formatTime, href, html, type SafeHtml } from '../pages/html';
import { discardSelectedForm, selectAllHeader, selectionForm, selectRowCell } from '../pages/action-form';
import { pager, type PageContext } from '../pages/layout';
import { scrollBox, sortFields, sortHeader, sortedRows, type SortableTable } from '../pages/sortable-table';

/** The services table sorts in the page (there are few services), by `serviceSort`/`serviceDir`. */
export const OUTBOX_SERVICE_SORT = sortSpec(
  ['name', 'database', 'pending', 'stuck', 'dead', 'oldestPending'] as const,
  { column: 'name', dir: 'asc' },
  ['pending', 'stuck', 'dead'],
);
export type OutboxServiceSortColumn = (typeof OUTBOX_SERVICE_SORT.columns)[number];

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
  rowTable: SortableTable<OutboxRowSortColumn>;
  serviceTable: SortableTable<OutboxServiceSortColumn>;
}

export function outboxPage(context: PageContext, model: OutboxPageModel): SafeHtml {
  const { base } = context;
  const operator = hasRole(context.principal, 'operator');
  const services = model.serviceTable;
  const rows = model.rowTable;
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
    ${scrollBox(
      'Service databases',
      html`<table data-testid="outbox-services-table">
        <thead>
          <tr>
            ${sortHeader(services, 'name', 'Service')} ${sortHeader(services, 'database', 'Database')}
            ${sortHeader(services, 'pending', 'Pending')} ${sortHeader(services, 'stuck', 'Stuck')}
            ${sortHeader(services, 'dead', 'Dead')} ${sortHeader(services, 'oldestPending', 'Oldest pending')}
          </tr>
        </thead>
        <tbody>
          ${sortedRows(services, model.services, serviceSortValue).map(
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
      </table>`,
    )}
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
            <form
              class="filters"
              method="get"
              action="${base}/outbox"
              aria-label="Filter outbox rows"
              data-testid="filters"
            >
              <input type="hidden" name="service" value="${model.service}" />
              <input type="hidden" name="state" value="${model.state}" />
              ${sortFields(rows)} ${sortFields(services)}
              <label>Topic <input name="topic" value="${model.query.topic ?? ''}" maxlength="255" /></label>
              <label>Business key <input name="key" value="${model.query.key ?? ''}" maxlength="255" /></label>
              <button type="submit" data-testid="filter-submit">Filter</button>
            </form>
            ${model.error ? html`<p class="error" role="alert">${model.error}</p>` : ''}
            ${
              operator && model.rows && model.rows.total > 0
                ? html`<section class="actions" aria-label="Actions on outbox rows">
                    ${selectionForm({
                      endpoint: `api/outbox/${model.service}/requeue`,
                      selection: 'outbox-rows',
                      ids: 'ids',
                      reasonRequired: false,
                      legend: 'Requeue selected',
                      button: 'Requeue',
                      testId: 'requeue-form',
                    })}
                    ${discardSelectedForm({
                      endpoint: `api/outbox/${model.service}/discard`,
                      selection: 'outbox-rows',
                      ids: 'ids',
                      question: 'Discard the selected outbox rows? They will never be sent.',
                      title: 'Discard outbox rows',
                    })}
                  </section>`
                : ''
            }
            ${
              !model.rows || model.rows.items.length === 0
                ? html`<p class="empty">No ${model.state} rows.</p>`
                : html`${scrollBox(
                    'Outbox rows',
                    html`<table id="outbox-rows" data-testid="outbox-rows-table">
                      <thead>
                        <tr>
                          ${operator ? selectAllHeader('outbox-rows') : ''} ${sortHeader(rows, 'seq', 'Seq')}
                          ${sortHeader(rows, 'id', 'Message id')} ${sortHeader(rows, 'topic', 'Topic')}
                          ${sortHeader(rows, 'key', 'Key')} ${sortHeader(rows, 'attempts', 'Attempts')}
                          ${sortHeader(rows, 'createdAt', 'Created')}
                          ${sortHeader(rows, 'nextAttemptAt', 'Next attempt')}
                          ${sortHeader(rows, 'error', 'Last error')}
                          <th scope="col">Payload</th>
                        </tr>
                      </thead>
                      <tbody>
                        ${model.rows.items.map(
                          (row) =>
                            html`<tr data-testid="outbox-row" data-id="${row.id}">
                              ${operator ? selectRowCell(row.id, `Select row ${row.id}`, row.leasedUntil ? 'A relay is sending it' : undefined) : ''}
                              <td>${row.seq}</td>
                              <td class="mono">${row.id}</td>
                              <td>${row.topic}</td>
                              <td class="mono">${row.key ?? ''}</td>
                              <td>${row.attempts}</td>
                              <td>${formatTime(row.createdAt)} (${formatAge(row.ageMs)} ago)</td>
                              <td>${row.status === 'dead' ? '–' : formatTime(row.nextAttemptAt)}</td>
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
                    </table>`,
                  )}
                  ${pager(base, 'outbox', { ...rows.query, service: model.service, state: model.state }, model.rows.total, model.limit, model.offset)}`
            }`
    }`;
}

function serviceSortValue(service: OutboxServiceSummary, column: OutboxServiceSortColumn): string | number | null {
  switch (column) {
    case 'name':
      return service.name;
    case 'database':
      return service.database;
    case 'pending':
      return service.counts?.pending ?? null;
    case 'stuck':
      return service.counts?.stuck ?? null;
    case 'dead':
      return service.counts?.dead ?? null;
    case 'oldestPending':
      return service.counts?.oldestPendingAt ?? null;
  }
}
