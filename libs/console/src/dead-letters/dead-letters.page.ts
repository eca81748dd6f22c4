import { hasRole } from '../auth/roles.decorator';
import type { DeadLetterFilterDto, DeadLetterSortColumn } from './dead-letter-filter.dto';
import type { DeadLetterSummary } from './dead-letter.view';
import type { RetryJobView } from '../jobs/retry-job.service';
import { jobsSection } from '../jobs/retry-jobs.page';
import type { ConsumerView } from '../sources/consumer-catalog.service';
import { formatAge, formatTime, formatWindow, href, html, type SafeHtml } from '../pages/html';
import { reasonField, selectionForm, selectRowCell } from '../pages/action-form';
import { pager, type PageContext } from '../pages/layout';
import { scrollBox, sortFields, sortHeader, type SortableTable } from '../pages/sortable-table';

export interface DeadLetterListModel {
  filter: DeadLetterFilterDto;
  /** The query as given, to keep in links. */
  query: Record<string, string>;
  limit: number;
  offset: number;
  total: number;
  items: DeadLetterSummary[];
  consumers: ConsumerView[];
  defaultRate: number;
  maxRate: number;
  maxBulk: number;
  error: string | null;
  /** Bulk retries of the last hour and those still running. */
  jobs: RetryJobView[];
  table: SortableTable<DeadLetterSortColumn>;
}

const STATUSES = ['dead', 'resent', 'discarded', 'any'];

/** The dead-letter list: filters, bulk retries with their progress, actions on a selection or on all matches. */
export function deadLetterListPage(context: PageContext, model: DeadLetterListModel): SafeHtml {
  const { base } = context;
  const operator = hasRole(context.principal, 'operator');
  const q = model.query;
  const groups = [...new Set(model.consumers.map((consumer) => consumer.group))].sort();
  const topics = [...new Set(model.consumers.map((consumer) => consumer.topic))].sort();
  const status = model.filter.status ?? 'dead';
  const bulkFilter = { ...model.filter };
  delete bulkFilter.status;
  const table = model.table;
  const selectable = operator && status === 'dead';
  // Where a detail page and its actions come back to: this list, with its filters, sort and page.
  const listUrl = href(base, 'dead-letters', model.query);
  return html` <form
      class="filters"
      method="get"
      action="${base}/dead-letters"
      aria-label="Filter dead letters"
      data-testid="filters"
    >
      ${sortFields(table)}
      <label>Group <input name="group" value="${q.group ?? ''}" list="known-groups" maxlength="255" /></label>
      <label>Topic <input name="topic" value="${q.topic ?? ''}" list="known-topics" maxlength="255" /></label>
      <label>Business key <input name="key" value="${q.key ?? ''}" maxlength="512" /></label>
      <label>Message id <input name="messageId" value="${q.messageId ?? ''}" maxlength="128" /></label>
      <label>Error contains <input name="error" value="${q.error ?? ''}" maxlength="500" /></label>
      <label>Dead from <input name="from" type="datetime-local" step="1" value="${q.from ?? ''}" /></label>
      <label>Dead before <input name="to" type="datetime-local" step="1" value="${q.to ?? ''}" /></label>
      <label
        >Status
        <select name="status">
          ${STATUSES.map(
            (value) => html`<option value="${value}" ${value === status ? html` selected` : ''}>${value}</option>`,
          )}
        </select></label
      >
      <label
        >Per page
        <select name="limit">
          ${[25, 50, 100, 200].map(
            (value) => html`<option value="${value}" ${value === model.limit ? html` selected` : ''}>${value}</option>`,
          )}
        </select></label
      >
      <button type="submit" data-testid="filter-submit">Filter</button>
      <a href="${href(base, 'dead-letters')}" data-testid="filter-clear">Clear</a>
      <datalist id="known-groups">${groups.map((group) => html`<option value="${group}"></option>`)}</datalist>
      <datalist id="known-topics">${topics.map((topic) => html`<option value="${topic}"></option>`)}</datalist>
    </form>
    ${model.error ? html`<p class="error" role="alert">${model.error}</p>` : ''}
    ${jobsSection(base, model.jobs, operator)}
    ${
      operator && status === 'dead' && model.total > 0
        ? html`<section class="actions" aria-label="Actions on dead letters">
            <form
              data-endpoint="api/dead-letters/retry"
              data-selection="dead-letters"
              data-ids="ids"
              data-id-type="number"
              data-reload
              data-testid="retry-selected-form"
            >
              <fieldset>
                <legend>Retry selected</legend>
                <label
                  >Rate
                  <input name="ratePerSec" type="number" min="1" max="${model.maxRate}" value="${model.defaultRate}" />
                  msg/s</label
                >
                ${reasonField(false)}
                <button type="submit">Retry selected</button>
              </fieldset>
            </form>
            <form
              data-endpoint="api/dead-letters/retry"
              data-confirm="Retry all ${model.total} dead letters matching this filter, at the rate given?"
              data-confirm-title="Retry all matching"
              data-confirm-label="Retry all ${model.total}"
              data-reload
              data-testid="retry-all-form"
            >
              <input type="hidden" name="filter" data-json value="${JSON.stringify(bulkFilter)}" />
              <fieldset>
                <legend>Retry all ${model.total} matching</legend>
                ${model.total > model.maxBulk ? html`<p class="warn">More than ${model.maxBulk} match: narrow the filter first.</p>` : ''}
                <label
                  >Rate
                  <input name="ratePerSec" type="number" min="1" max="${model.maxRate}" value="${model.defaultRate}" />
                  msg/s</label
                >
                ${reasonField(false)}
                <button type="submit" ${model.total > model.maxBulk ? html` disabled` : ''}>Retry all matching</button>
              </fieldset>
            </form>
            ${selectionForm({
              endpoint: 'api/dead-letters/discard',
              selection: 'dead-letters',
              ids: 'ids',
              numericIds: true,
              confirm: {
                message: 'Discard the selected dead letters? They will never be delivered.',
                title: 'Discard selected',
                label: 'Discard',
              },
              danger: true,
              reasonRequired: true,
              legend: 'Discard selected',
              button: 'Discard selected',
              testId: 'discard-selected-form',
            })}
          </section>`
        : ''
    }
    ${
      model.items.length === 0
        ? html`<p class="empty">No dead letters match.</p>`
        : scrollBox(
            'Dead letters',
            html`<table id="dead-letters" data-testid="dead-letters-table">
              <thead>
                <tr>
                  ${selectable ? html`<th scope="col"><input type="checkbox" data-select-all="dead-letters" data-testid="select-all" aria-label="Select all on this page" /></th>` : ''}
                  ${sortHeader(table, 'id', 'Id')} ${sortHeader(table, 'group', 'Group')}
                  ${sortHeader(table, 'topic', 'Topic')} ${sortHeader(table, 'key', 'Key')}
                  ${sortHeader(table, 'error', 'Last error')} ${sortHeader(table, 'attempts', 'Attempts')}
                  ${sortHeader(table, 'deadAt', 'Dead at')} ${sortHeader(table, 'age', 'Age')}
                  ${sortHeader(table, 'status', 'Status')}
                </tr>
              </thead>
              <tbody>
                ${model.items.map(
                  (letter) =>
                    html`<tr data-testid="dead-letter-row" data-id="${letter.id}">
                      ${selectable ? selectRowCell(letter.id, `Select dead letter ${letter.id}`) : ''}
                      <td>
                        <a
                          href="${href(base, `dead-letters/${letter.id}`, { back: listUrl })}"
                          data-testid="dead-letter-link"
                          >${letter.id}</a
                        >
                      </td>
                      <td>${letter.group}</td>
                      <td>${letter.topic}</td>
                      <td class="mono">${letter.key ?? ''}</td>
                      <td class="reason">${letter.reason}</td>
                      <td>${letter.reconsumeTimes}</td>
                      <td>${formatTime(letter.deadAt)}</td>
                      <td>
                        ${formatAge(letter.ageMs)}${letter.olderThanDedupWindow ? html` <span class="badge warn" title="Older than the dedup window (${formatWindow(letter.dedupWindowMs)}): a retry runs the handler again">past dedup window</span>` : ''}
                      </td>
                      <td>${letter.status}${letter.statusReason ? html`: ${letter.statusReason}` : ''}</td>
                    </tr>`,
                )}
              </tbody>
            </table>`,
          )
    }
    ${pager(base, 'dead-letters', q, model.total, model.limit, model.offset)}`;
}
