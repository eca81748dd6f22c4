import type { AuditEntry } from '../audit/audit-log.service';
import { hasRole } from '../auth/roles.decorator';
import type { DeadLetterFilterDto, DeadLetterSortColumn } from './dead-letter-filter.dto';
import type { DeadLetterDetail, DeadLetterSummary } from './dead-letter.view';
import type { RetryJobView } from '../jobs/retry-job.service';
import type { ConsumerView } from '../sources/consumer-catalog.service';
import { formatAge, formatTime, formatWindow, href, html, jsonIsland, type SafeHtml } from '../pages/html';
import { reasonField, selectionForm } from '../pages/action-form';
import { pager, type PageContext } from '../pages/layout';
import { scrollBox, sortFields, sortHeader, type SortableTable } from '../pages/sortable-table';
import { auditTable } from '../audit/audit.page';

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
                      ${selectable ? html`<td><input type="checkbox" name="select" value="${letter.id}" aria-label="Select dead letter ${letter.id}" data-testid="select-row" /></td>` : ''}
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

/**
 * @param back the list URL the operator came from (filters, sort and page), already checked to be a console list
 *   URL; after an action the page returns there. Without it, the list of the letter's group.
 */
/** What the viewer of a detail page may see of masked fields. */
export interface RevealState {
  /** The configured masked field paths; empty when nothing is masked. */
  fields: string[];
  /** The viewer has the reveal permission. */
  canReveal: boolean;
  /** Shown in clear to this session until then, after an audited reveal. */
  revealedUntil: number | null;
}

export function deadLetterDetailPage(
  context: PageContext,
  letter: DeadLetterDetail,
  audit: AuditEntry[],
  back: string | null,
  reveal: RevealState = { fields: [], canReveal: false, revealedUntil: null },
): SafeHtml {
  const { base } = context;
  const operator = hasRole(context.principal, 'operator');
  // After an action: back to the list as it was, or this page again to show the new status.
  const after = back ? html`data-after-url="${back}"` : html`data-reload`;
  return html` <p>
      ${
        back
          ? html`<a href="${back}" data-testid="back-to-list">← Back to the dead letters</a>`
          : html`<a href="${href(base, 'dead-letters', { group: letter.group })}" data-testid="back-to-list"
              >← Dead letters of ${letter.group}</a
            >`
      }
    </p>
    ${
      letter.olderThanDedupWindow
        ? html`<p class="warn" role="alert">
            <strong>Older than the dedup window.</strong> This message is ${formatAge(letter.ageMs)} old; the dedup
            window of ${letter.group} is ${formatWindow(letter.dedupWindowMs)}. Its dedup record may be gone, so a retry
            runs the handler again even if it already did its work once. Retrying asks you to confirm.
          </p>`
        : ''
    }
    <dl class="facts">
      <dt>Status</dt>
      <dd>
        ${letter.status}${letter.statusReason ? html` — ${letter.statusReason}` : ''}${letter.statusAt ? html` (${formatTime(letter.statusAt)})` : ''}
      </dd>
      <dt>Group</dt>
      <dd>${letter.group}</dd>
      <dt>Topic</dt>
      <dd>${letter.topic}</dd>
      <dt>Business key</dt>
      <dd class="mono">${letter.key ?? '(none)'}</dd>
      <dt>Message id</dt>
      <dd class="mono">
        ${letter.originalMessageId}${letter.messageId !== letter.originalMessageId ? html` (this copy ${letter.messageId})` : ''}
      </dd>
      <dt>Tags</dt>
      <dd>${letter.tags.join(', ') || '(none)'}</dd>
      <dt>Published</dt>
      <dd>${formatTime(letter.bornAt)} (${formatAge(letter.ageMs)} ago)</dd>
      <dt>Dead-lettered</dt>
      <dd>
        ${formatTime(letter.deadAt)} after ${letter.reconsumeTimes} failed
        ${letter.reconsumeTimes === 1 ? 'retry' : 'retries'}
      </dd>
      <dt>Handler</dt>
      <dd>
        ${letter.handler ?? 'unknown to this console'}; edits validated against ${validationText(letter.validation)}
      </dd>
      <dt>Dedup window</dt>
      <dd>${formatWindow(letter.dedupWindowMs)}</dd>
    </dl>

    <h2>Last error</h2>
    <pre class="error-text">${letter.reason}</pre>

    <h2>Payload <small>${letter.payload.encoding}, ${letter.payload.bytes} bytes</small></h2>
    ${revealSection(letter, reveal)}
    <pre class="payload" data-testid="payload">${letter.payload.text}</pre>

    <h2>Headers</h2>
    ${
      Object.keys(letter.headers).length === 0
        ? html`<p class="empty">No headers.</p>`
        : html`<table class="wrap" data-testid="headers-table">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Value</th>
              </tr>
            </thead>
            <tbody>
              ${Object.entries(letter.headers).map(
                ([name, value]) =>
                  html`<tr>
                    <td class="mono">${name}</td>
                    <td class="mono">${value}</td>
                  </tr>`,
              )}
            </tbody>
          </table>`
    }

    <h2>Attempt history</h2>
    <table class="wrap" data-testid="history-table">
      <thead>
        <tr>
          <th scope="col">Dead letter</th>
          <th scope="col">Dead at</th>
          <th scope="col">Failed retries</th>
          <th scope="col">Error</th>
          <th scope="col">Then</th>
        </tr>
      </thead>
      <tbody>
        ${letter.history.map(
          (entry) => html`<tr${entry.id === letter.id ? html` aria-current="true"` : ''}>
    <td><a href="${href(base, `dead-letters/${entry.id}`)}">${entry.id}</a></td>
    <td>${formatTime(entry.deadAt)}</td><td>${entry.reconsumeTimes}</td><td class="reason">${entry.reason}</td>
    <td>${entry.status}${entry.statusReason ? html`: ${entry.statusReason}` : ''}${entry.statusAt ? html` (${formatTime(entry.statusAt)})` : ''}</td>
  </tr>`,
        )}
      </tbody>
    </table>

    ${
      operator && letter.status === 'dead'
        ? html`<section class="actions" aria-label="Actions on this dead letter">
            <form data-endpoint="api/dead-letters/${letter.id}/retry" ${after} data-testid="retry-form">
              <fieldset>
                <legend>Retry as it was</legend>
                ${reasonField(false)}
                <button type="submit">Retry</button>
              </fieldset>
            </form>
            ${
              letter.payload.encoding === 'json'
                ? html`<form data-endpoint="api/dead-letters/${letter.id}/retry" ${after} data-testid="edit-retry-form">
                    <fieldset>
                      <legend>Edit and retry</legend>
                      <label for="edit-payload"
                        >Payload
                        (JSON)${letter.validation === 'none' ? '' : html`, validated against ${validationText(letter.validation)} before it is sent`}</label
                      >
                      <textarea
                        id="edit-payload"
                        name="payload"
                        data-json
                        data-testid="payload-editor"
                        rows="${Math.min(30, letter.payload.text.split('\n').length + 2)}"
                        spellcheck="false"
                      >
${letter.payload.text}</textarea>
                      <label
                        >Reason
                        <input name="reason" maxlength="500" placeholder="e.g. card corrected by customer service"
                      /></label>
                      <button type="submit">Edit and retry</button>
                    </fieldset>
                  </form>`
                : html`<p class="note">The payload is not JSON; it can be retried as it was, not edited here.</p>`
            }
            <form
              data-endpoint="api/dead-letters/${letter.id}/discard"
              data-confirm="Discard this message? It will never be delivered."
              data-confirm-title="Discard dead letter ${letter.id}"
              data-confirm-label="Discard"
              data-danger
              ${after}
              data-testid="discard-form"
            >
              <fieldset>
                <legend>Discard</legend>
                ${reasonField(true)}
                <button type="submit" class="danger">Discard</button>
              </fieldset>
            </form>
          </section>`
        : ''
    }

    <h2>Audit</h2>
    ${auditTable(base, audit)}`;
}

/** Says which fields are masked, and offers the audited reveal to those allowed; or says until when they show. */
function revealSection(letter: DeadLetterDetail, reveal: RevealState): SafeHtml | '' {
  if (reveal.revealedUntil !== null) {
    return html`<p class="warn" data-testid="revealed-note">
      Masked fields (${reveal.fields.join(', ')}) are shown in clear to you until ${formatTime(reveal.revealedUntil)};
      the audit log records it.
    </p>`;
  }
  if (letter.payload.redaction === 'none') return '';
  const what =
    letter.payload.redaction === 'hidden'
      ? 'This payload is not JSON, so its sensitive fields cannot be found: it is hidden.'
      : html`Sensitive fields are masked: ${reveal.fields.join(', ')}. An edit that leaves a mask as shown keeps the
        real value.`;
  if (!reveal.canReveal) {
    return html`<p class="note" data-testid="masked-note">
      ${what} Seeing them needs the reveal permission, given in the console's configuration.
    </p>`;
  }
  return html`<p class="note" data-testid="masked-note">${what}</p>
    <form data-endpoint="api/dead-letters/${letter.id}/reveal" data-reload data-testid="reveal-form">
      <fieldset>
        <legend>Reveal the masked fields</legend>
        ${reasonField(true)}
        <button type="submit">Reveal (audited)</button>
      </fieldset>
    </form>`;
}

/**
 * Bulk retries with progress. The front end follows running ones through the JSON API (their starting state is in
 * the `jobs-data` island) and gives operators a Cancel button; interrupted ones (their console stopped) say how
 * many letters were not sent and give operators Resume and Cancel. The markup here is the state at render time.
 */
export function jobsSection(base: string, jobs: RetryJobView[], operator: boolean): SafeHtml {
  return html`<section class="jobs" aria-label="Bulk retries" data-jobs data-testid="jobs">
    ${jobs.length > 0 ? jsonIsland('jobs-data', jobs) : ''}
    ${jobs.map(
      (job) =>
        html`<div
          class="job"
          data-job-id="${job.id}"
          data-job-state="${job.state}"
          data-can-cancel="${operator ? 'true' : 'false'}"
          data-testid="job"
        >
          <p>
            <strong>Bulk retry</strong> of ${job.scope} by ${job.createdBy} at ${job.ratePerSec} msg/s:
            <span data-job-text data-testid="job-text"
              >${job.state}, ${job.resent} resent, ${job.skipped} skipped, ${job.failed} failed of ${job.total}</span
            >
          </p>
          <progress
            max="${job.total}"
            value="${job.total - job.remaining}"
            data-job-progress
            data-testid="job-progress"
          >
            ${job.total - job.remaining} of ${job.total}
          </progress>
          ${job.lastError ? html`<p class="error">${job.lastError}</p>` : ''}
          ${
            job.state === 'interrupted'
              ? html`<p data-testid="job-interrupted">
                  Interrupted: the console stopped while it ran. ${job.remaining} not sent yet.
                </p>`
              : ''
          }
          ${
            operator && job.state === 'interrupted'
              ? html`<form
                    class="inline"
                    data-endpoint="api/jobs/${job.id}/resume"
                    data-reload
                    data-confirm="Resume this bulk retry? It sends the ${job.remaining} letters not sent yet at ${job.ratePerSec} msg/s; letters no longer dead are skipped."
                    data-confirm-title="Resume bulk retry"
                    data-confirm-label="Resume"
                  >
                    <button type="submit" data-testid="job-resume">Resume</button>
                  </form>
                  <form
                    class="inline"
                    data-endpoint="api/jobs/${job.id}/cancel"
                    data-reload
                    data-confirm="Close this bulk retry for good? The ${job.remaining} letters not sent yet stay dead."
                    data-confirm-title="Cancel bulk retry"
                    data-confirm-label="Cancel it"
                    data-danger
                  >
                    <button type="submit" data-testid="job-cancel">Cancel</button>
                  </form>`
              : ''
          }
          ${
            operator && job.state === 'running'
              ? html`<form class="inline" data-endpoint="api/jobs/${job.id}/cancel" data-reload>
                  <button type="submit" data-testid="job-cancel">Cancel</button>
                </form>`
              : ''
          }
        </div>`,
    )}
  </section>`;
}

/** What an edit is checked against, in words. */
function validationText(validation: string): string {
  if (validation === 'none') return 'nothing (JSON only)';
  if (validation === 'live-consumer') return "a live consumer's DTO or schema, asked through the broker";
  return validation.replace(/^dto:/, '');
}
