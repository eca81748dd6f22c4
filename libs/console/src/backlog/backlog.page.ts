import { hasRole } from '../auth/roles.decorator';
import { reasonField } from '../pages/action-form';
import { formatAge, formatTime, html, jsonIsland, type SafeHtml } from '../pages/html';
import type { PageContext } from '../pages/layout';
import { scrollBox, sortHeader, sortedRows, type SortableTable } from '../pages/sortable-table';
import type { BacklogSortColumn } from './backlog.dto';
import { MAX_QUEUES } from './backlog.dto';
import type { BacklogEntryView, BacklogView } from './backlog.service';

/** The usual advice when a backlog must go faster: ten times the queues, so ten times the consumers can work. */
const EXPANSION_FACTOR = 10;

/** What the page shows for a figure this broker cannot give (RabbitMQ: the publish rate, an age nobody here sees). */
const UNKNOWN = 'not known';
/** Said before a figure that counts only what the reporting instance sees (RabbitMQ with other consumers). */
const AT_LEAST = 'at least';

const rate = (value: number | null): string =>
  value === null ? UNKNOWN : value >= 10 ? value.toFixed(0) : value.toFixed(1);
const count = (value: number | null): string => (value === null ? UNKNOWN : String(value));

function consumeRate(entry: BacklogEntryView): string {
  const text = rate(entry.consumeRatePerSec);
  return entry.consumeRateIsLowerBound && entry.consumeRatePerSec !== null ? `${AT_LEAST} ${text}` : text;
}

function waited(entry: BacklogEntryView): SafeHtml {
  if (entry.lag === 0 && !entry.inFlight) return html`—`;
  if (entry.lagMs === null) {
    return entry.ageUnknownReason
      ? html`${UNKNOWN} <small data-testid="backlog-age-reason">(${entry.ageUnknownReason})</small>`
      : html`${UNKNOWN}`;
  }
  return entry.ageIsLowerBound ? html`${AT_LEAST} ${formatAge(entry.lagMs)}` : html`${formatAge(entry.lagMs)}`;
}

export function drainText(entry: BacklogEntryView): string {
  if (entry.drain === null) return UNKNOWN;
  switch (entry.drain.state) {
    case 'drained':
      return 'drained';
    case 'draining':
      return `≈ ${formatAge(entry.drain.etaMs ?? 0)}`;
    case 'growing':
      return 'growing';
    default:
      return 'stalled (nothing consumed or published)';
  }
}

function sortValue(entry: BacklogEntryView, column: BacklogSortColumn): string | number | null {
  switch (column) {
    case 'lag':
      return entry.lag;
    case 'lagMs':
      return entry.lagMs;
    case 'group':
      return entry.group;
    case 'topic':
      return entry.topic;
    case 'consume':
      return entry.consumeRatePerSec;
    case 'publish':
      return entry.publishRatePerSec;
    case 'members':
      return entry.members;
    case 'queues':
      return entry.queueCount;
    case 'drain':
      // Longest wait first when descending: growing and stalled backlogs never drain.
      if (entry.drain === null) return null;
      return entry.drain.state === 'draining'
        ? (entry.drain.etaMs ?? 0)
        : entry.drain.state === 'drained'
          ? -1
          : Infinity;
  }
}

interface ConfirmedAction {
  endpoint: string;
  /** What the operator is asked before it runs; `{field}` is filled in from the form. */
  question: string;
  title: string;
  /** The confirm and submit buttons' label. */
  label: string;
  /** Markup, so that literal text in it (an apostrophe) reads as it is written. */
  legend: SafeHtml;
  testId: string;
}

/**
 * A backlog action sent through the JSON API once the operator has confirmed it, with the reason the audit log keeps,
 * and followed by a reload.
 */
function confirmedActionForm(action: ConfirmedAction, fields: SafeHtml): SafeHtml {
  return html`<form
    data-endpoint="${action.endpoint}"
    data-confirm="${action.question}"
    data-confirm-title="${action.title}"
    data-confirm-label="${action.label}"
    data-reload
    data-testid="${action.testId}"
  >
    <fieldset>
      <legend>${action.legend}</legend>
      ${fields} ${reasonField(true)}
      <button type="submit">${action.label}</button>
    </fieldset>
  </form>`;
}

function expandForm(entry: BacklogEntryView, queueCount: number): SafeHtml {
  const suggested = Math.min(MAX_QUEUES, Math.max(queueCount + 1, queueCount * EXPANSION_FACTOR));
  return confirmedActionForm(
    {
      endpoint: 'api/backlog/expand',
      question: `Raise topic ${entry.topic} from ${queueCount} queues to {queueCount}? Members of every group on it rebalance at once, so more consumer instances get queues. From then on keys may map to other queues: per-key order between what is already queued and what comes next holds only once the old queues have drained, or after their backlog is redistributed.`,
      title: `Expand ${entry.topic}`,
      label: 'Expand',
      legend: html`Expand topic ${entry.topic}`,
      testId: 'backlog-expand-form',
    },
    html`<input type="hidden" name="topic" value="${entry.topic}" />
      <label
        >Queues
        <input
          type="number"
          name="queueCount"
          min="${queueCount + 1}"
          max="${MAX_QUEUES}"
          value="${suggested}"
          required
      /></label>`,
  );
}

function redistributeForm(entry: BacklogEntryView, queueCount: number): SafeHtml {
  return confirmedActionForm(
    {
      endpoint: 'api/backlog/redistribute',
      question: `Move the unconsumed backlog of group ${entry.group} on ${entry.topic} (${entry.lag} messages now) onto {toQueueCount} queues of the group's own (and, if a count to expand to is given, expand ${entry.topic} to it first while ${entry.group} is paused on it)? Its consumers of ${entry.topic} read them as they are: nothing to deploy. Delivery to ${entry.group} on ${entry.topic} pauses while it moves; each key keeps its order, and an orderly group handles the moved messages before the rest of ${entry.topic}. Other groups are not affected.`,
      title: `Redistribute the backlog of ${entry.group}`,
      label: 'Redistribute',
      legend: html`Redistribute ${entry.group}'s backlog`,
      testId: 'backlog-redistribute-form',
    },
    html`<input type="hidden" name="group" value="${entry.group}" />
      <input type="hidden" name="fromTopic" value="${entry.topic}" />
      <label
        >Onto queues <input type="number" name="toQueueCount" min="1" max="${MAX_QUEUES}" value="${queueCount}"
      /></label>
      <label
        >Expand ${entry.topic} first to (optional; keeps an orderly group's keys in order while producers go on)
        <input type="number" name="expandTo" min="${queueCount + 1}" max="${MAX_QUEUES}"
      /></label>`,
  );
}

function resetForm(entry: BacklogEntryView, now: number): SafeHtml {
  // A datetime-local field has no zone: the page's script reads it as the browser's local time.
  return html`<form
    data-backlog-reset
    data-group="${entry.group}"
    data-topic="${entry.topic}"
    data-testid="backlog-reset-form"
  >
    <fieldset>
      <legend>Skip to a time</legend>
      <label
        >Start at (your local time)
        <input type="datetime-local" name="at" step="1" required data-default-epoch="${now}"
      /></label>
      ${reasonField(true)}
      <button type="submit" class="danger">Preview and reset</button>
    </fieldset>
  </form>`;
}

function actionsCell(context: PageContext, view: BacklogView, entry: BacklogEntryView): SafeHtml {
  if (!hasRole(context.principal, 'admin')) return html``;
  // A source that offers actions knows the queue count; 1 is only a floor for the form's suggestions.
  const queueCount = entry.queueCount ?? 1;
  const forms = [
    view.actions.expand ? expandForm(entry, queueCount) : null,
    view.actions.redistribute ? redistributeForm(entry, queueCount) : null,
    view.actions.reset ? resetForm(entry, view.at) : null,
  ].filter((form): form is SafeHtml => form !== null);
  if (forms.length === 0) return html`<td>none on this broker</td>`;
  return html`<td>
    <details data-testid="backlog-actions">
      <summary>Actions</summary>
      ${forms}
    </details>
  </td>`;
}

function movesSection(view: BacklogView): SafeHtml {
  if (view.moves.length === 0) return html``;
  return html`<section aria-label="Backlog moves" data-testid="backlog-moves">
    <h2>Backlog moves from this console</h2>
    ${jsonIsland('backlog-moves-data', view.moves)}
    <ul>
      ${view.moves.map(
        (move) =>
          html`<li data-backlog-move="${move.id}" data-testid="backlog-move">
            ${move.group}: ${move.fromTopic} → ${move.toTopic} by ${move.startedBy} at ${formatTime(move.startedAt)}:
            ${move.state}, ${move.moved} moved${move.error ? html` (${move.error})` : ''}
          </li>`,
      )}
    </ul>
  </section>`;
}

export function backlogPage(
  context: PageContext,
  view: BacklogView,
  table: SortableTable<BacklogSortColumn>,
): SafeHtml {
  const admin = hasRole(context.principal, 'admin');
  const rows = sortedRows(table, view.entries, sortValue);
  const notes = view.notes.map((note) => html`<p class="note" data-testid="backlog-note">${note}</p>`);
  if (!view.supported) return html`${notes}`;
  return html`<p class="note">
      Per group and topic: messages not consumed yet, how long the oldest has waited, the rates now, and when the
      backlog would be gone at those rates. The runbook is in docs/console.md, section Backlog.
    </p>
    ${notes} ${view.error ? html`<p class="error" role="alert">${view.error}</p>` : ''} ${movesSection(view)}
    ${
      rows.length === 0
        ? html`<p class="empty">No consumer group has subscribed to a topic yet.</p>`
        : scrollBox(
            'Backlog per group and topic',
            html`<table data-testid="backlog-table">
              <thead>
                <tr>
                  ${sortHeader(table, 'group', 'Group')} ${sortHeader(table, 'topic', 'Topic')}
                  ${sortHeader(table, 'lag', 'Lag')} ${sortHeader(table, 'lagMs', 'Oldest waiting')}
                  ${sortHeader(table, 'consume', 'Consume /s')} ${sortHeader(table, 'publish', 'Publish /s')}
                  ${sortHeader(table, 'members', 'Members')} ${sortHeader(table, 'queues', 'Queues')}
                  ${sortHeader(table, 'drain', 'Drains in')} ${admin ? html`<th scope="col">Actions</th>` : ''}
                </tr>
              </thead>
              <tbody>
                ${rows.map(
                  (entry) =>
                    html`<tr data-testid="backlog-row" data-group="${entry.group}" data-topic="${entry.topic}">
                      <td>${entry.group}</td>
                      <td>${entry.topic}</td>
                      <td class="num" data-testid="backlog-lag">${entry.lag}</td>
                      <td data-testid="backlog-age">${waited(entry)}</td>
                      <td class="num">${consumeRate(entry)}</td>
                      <td class="num">${rate(entry.publishRatePerSec)}</td>
                      <td class="num">${count(entry.members)}</td>
                      <td class="num">${count(entry.queueCount)}</td>
                      <td data-testid="backlog-drain">${drainText(entry)}</td>
                      ${actionsCell(context, view, entry)}
                    </tr>`,
                )}
              </tbody>
            </table>`,
            'backlog-scroll',
          )
    }`;
}
