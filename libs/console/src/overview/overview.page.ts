import { sortParams, sortSpec } from '../http/sort';
import type { Series } from './metrics-sampler.service';
import type { OverviewView } from './overview.service';
import { lineChart } from '../pages/charts';
import { formatAge, formatTime, formatWindow, href, html, type SafeHtml } from '../pages/html';
import type { PageContext } from '../pages/layout';
import { scrollBox, sortHeader, sortableTable, sortedRows } from '../pages/sortable-table';

/** The consumer groups table: `sort`/`dir`. */
export const GROUP_SORT = sortSpec(
  ['group', 'topic', 'lag', 'inFlight', 'retrying', 'dlq', 'consumeRate', 'dedupWindow'] as const,
  { column: 'group', dir: 'asc' },
  ['lag', 'inFlight', 'retrying', 'dlq', 'consumeRate'],
);
/** The topics table: `topicSort`/`topicDir`. */
export const TOPIC_SORT = sortSpec(
  ['topic', 'stored', 'publishRate', 'outboxStuck', 'outboxDead', 'halvesUnresolved', 'halvesDiscarded'] as const,
  { column: 'topic', dir: 'asc' },
  ['stored', 'publishRate', 'outboxStuck', 'outboxDead', 'halvesUnresolved', 'halvesDiscarded'],
);
export const TOPIC_SORT_PARAMS = sortParams('topic');

type GroupRow = OverviewView['groups'][number];

/** The transport's state and the rows that wait for it, after a service's outbox counts. */
function relayNote(relay: OverviewView['outbox']['services'][number]['relay']): SafeHtml | '' {
  if (!relay) return '';
  const oldest = relay.oldestPendingAgeMs === null ? '' : html`, oldest pending ${formatAge(relay.oldestPendingAgeMs)}`;
  if (relay.transportConnected) {
    return html`<span data-testid="outbox-transport">; transport connected${oldest}</span>`;
  }
  const since = relay.disconnectedSince === null ? '' : html` since ${formatTime(relay.disconnectedSince)}`;
  return html`<span data-testid="outbox-transport"
    >; transport not connected${since}: <strong>${relay.rowsHeldForBroker}</strong> held for the broker${oldest}</span
  >`;
}
type TopicRow = OverviewView['topics'][number];

export function overviewPage(
  context: PageContext,
  view: OverviewView,
  series: Series[],
  range: string,
  rangeMs: number,
  ranges: readonly string[],
  query: Record<string, unknown>,
): SafeHtml {
  const { base } = context;
  const groups = sortableTable({ id: 'groups', spec: GROUP_SORT, base, path: '', query });
  const topics = sortableTable({ id: 'topics', spec: TOPIC_SORT, base, path: '', query, params: TOPIC_SORT_PARAMS });
  const of = (kind: string): Series[] => series.filter((entry) => entry.kind === kind);
  const from = context.now - rangeMs;
  const problems =
    (view.deadLetters.total ?? 0) +
    view.outbox.services.reduce(
      (sum, service) => sum + (service.counts ? service.counts.stuck + service.counts.dead : 0),
      0,
    ) +
    (view.transactions.discarded ?? 0);
  const unreachable = !view.broker.reachable;
  const { unresolved, discarded } = view.transactions;
  return html` ${
      unreachable
        ? html`<p class="error" role="alert" data-testid="broker-unreachable">
            <strong
              >Broker unreachable since
              ${view.broker.unreachableSince === null ? 'now' : formatTime(view.broker.unreachableSince)}.</strong
            >
            ${view.broker.unreachableReason ?? ''} Below is what the console reads from the service databases; the
            broker's counts come back when it does.
          </p>`
        : ''
    }
    <section aria-labelledby="now">
      <h2 id="now">Now <small>${formatTime(view.at)}</small></h2>
      <ul class="tiles">
        <li class="${view.deadLetters.total === null ? 'unknown' : view.deadLetters.total > 0 ? 'bad' : 'ok'}">
          <a href="${href(base, 'dead-letters')}"
            >${view.deadLetters.total === null ? html`<strong>?</strong> dead letters (${unreachable ? 'broker unreachable' : view.deadLetters.error})` : html`<strong>${view.deadLetters.total}</strong> dead letters`}</a
          >
        </li>
        ${view.outbox.services.map(
          (service) =>
            html`<li
              class="${service.error || (service.counts && service.counts.stuck + service.counts.dead > 0) || (service.relay?.rowsHeldForBroker ?? 0) > 0 ? 'bad' : 'ok'}"
              data-testid="outbox-tile-${service.name}"
            >
              <a href="${href(base, 'outbox', { service: service.name })}"
                >outbox <em>${service.name}</em>:
                ${service.counts ? html`<strong>${service.counts.stuck}</strong> stuck, <strong>${service.counts.dead}</strong> dead, ${service.counts.pending} pending` : html`<span class="error">${service.error}</span>`}${relayNote(service.relay)}${
                  service.halfMessages && service.halfMessages.unresolved + service.halfMessages.discarded > 0
                    ? html`; half messages in its database: ${service.halfMessages.unresolved} unresolved,
                      ${service.halfMessages.discarded} discarded`
                    : ''
                }</a
              >
            </li>`,
        )}
        ${
          view.transactions.supported
            ? html`<li class="${discarded === null ? 'unknown' : discarded > 0 ? 'bad' : 'ok'}">
                <a href="${href(base, 'transactions')}"
                  >${discarded === null || unresolved === null ? html`<strong>?</strong> half messages in the broker (${unreachable ? 'broker unreachable' : view.transactions.error})` : html`<strong>${discarded}</strong> discarded, ${unresolved} unresolved half messages`}</a
                >
              </li>`
            : ''
        }
      </ul>
      ${problems === 0 && !unreachable && view.deadLetters.total !== null ? html`<p class="ok-note">Nothing waits for an operator.</p>` : ''}
      ${view.broker.statsError && !unreachable ? html`<p class="error">Broker statistics are unavailable: ${view.broker.statsError}</p>` : ''}
      ${!view.broker.statsAvailable && !view.broker.statsError ? html`<p class="note">This broker gives no backlog or rate statistics; counts come from its DLQ and half-message lists.</p>` : ''}
    </section>

    <section aria-labelledby="groups">
      <h2 id="groups">Consumer groups</h2>
      <p class="note">
        Behind? <a href="${href(base, 'backlog')}" data-testid="overview-backlog-link">Backlog</a> gives each group's
        lag in time, its members and when it would catch up, with the runbook's actions.
      </p>
      ${
        view.groups.length === 0
          ? html`<p class="empty">No consumer group statistics.</p>`
          : scrollBox(
              'Consumer groups',
              html`<table data-testid="groups-table">
                <thead>
                  <tr>
                    ${sortHeader(groups, 'group', 'Group')} ${sortHeader(groups, 'topic', 'Topic')}
                    ${sortHeader(groups, 'lag', 'Backlog (lag)')} ${sortHeader(groups, 'inFlight', 'In flight')}
                    ${sortHeader(groups, 'retrying', 'Retrying')} ${sortHeader(groups, 'dlq', 'DLQ')}
                    ${sortHeader(groups, 'consumeRate', 'Consumed/s')}
                    ${sortHeader(groups, 'dedupWindow', 'Dedup window')}
                  </tr>
                </thead>
                <tbody>
                  ${sortedRows(groups, view.groups, groupSortValue).map(
                    (group) =>
                      html`<tr>
                        <td>${group.group}</td>
                        <td>${group.topic}</td>
                        <td>${group.lag}</td>
                        <td>${group.inFlight}</td>
                        <td>${group.retryPending}</td>
                        <td>
                          ${group.dlqCount > 0 ? html`<a href="${href(base, 'dead-letters', { group: group.group, topic: group.topic })}">${group.dlqCount}</a>` : '0'}
                        </td>
                        <td>${group.deliveryRatePerSec}</td>
                        <td>${formatWindow(group.dedupWindowMs)}</td>
                      </tr>`,
                  )}
                </tbody>
              </table>`,
            )
      }
    </section>

    <section aria-labelledby="topics">
      <h2 id="topics">Topics</h2>
      ${
        view.topics.length === 0
          ? html`<p class="empty">No topics.</p>`
          : scrollBox(
              'Topics',
              html`<table data-testid="topics-table">
                <thead>
                  <tr>
                    ${sortHeader(topics, 'topic', 'Topic')} ${sortHeader(topics, 'stored', 'Stored')}
                    ${sortHeader(topics, 'publishRate', 'Published/s')}
                    ${sortHeader(topics, 'outboxStuck', 'Outbox stuck')}
                    ${sortHeader(topics, 'outboxDead', 'Outbox dead')}
                    ${sortHeader(topics, 'halvesUnresolved', 'Half msgs unresolved')}
                    ${sortHeader(topics, 'halvesDiscarded', 'Half msgs discarded')}
                  </tr>
                </thead>
                <tbody>
                  ${sortedRows(topics, view.topics, topicSortValue).map(
                    (topic) =>
                      html`<tr>
                        <td>${topic.topic}</td>
                        <td>${topic.storedMessages ?? '–'}</td>
                        <td>${topic.publishRatePerSec ?? '–'}</td>
                        <td>${topic.outboxStuck}</td>
                        <td>${topic.outboxDead}</td>
                        <td>${topic.unresolvedHalves}</td>
                        <td>${topic.discardedHalves}</td>
                      </tr>`,
                  )}
                </tbody>
              </table>`,
            )
      }
      ${
        view.outbox.services.some((service) => service.counts && service.counts.oldestPendingAt !== null)
          ? html`<p class="note">
              Oldest pending outbox row:
              ${view.outbox.services
                .filter((service) => service.counts?.oldestPendingAt != null)
                .map((service) => html`${service.name} ${formatAge(view.at - service.counts!.oldestPendingAt!)} old. `)}
              Rows pending longer than ${formatAge(view.outbox.stuckAfterMs)} count as stuck.
            </p>`
          : ''
      }
    </section>

    <section aria-labelledby="charts">
      <h2 id="charts">Over time</h2>
      <nav class="ranges" aria-label="Time range">
        ${ranges.map(
          (name) =>
            html`<a
              href="${href(base, '', { ...groups.query, range: name })}"
              ${name === range ? html` aria-current="true"` : ''}
              >${name}</a
            >`,
        )}
      </nav>
      <div class="charts">
        ${lineChart('Backlog (lag) per group and topic', of('lag'), from, context.now, 'messages')}
        ${lineChart('Published per topic', of('publish'), from, context.now, 'msg/s')}
        ${lineChart('Consumed per group and topic', of('consume'), from, context.now, 'msg/s')}
        ${lineChart('Dead letters per group and topic', of('dlq'), from, context.now, 'messages')}
        ${lineChart('Stuck outbox rows per service', of('outbox-stuck'), from, context.now, 'rows')}
        ${lineChart('Half messages', of('halves'), from, context.now, 'messages')}
      </div>
    </section>`;
}

function groupSortValue(group: GroupRow, column: (typeof GROUP_SORT.columns)[number]): string | number | null {
  switch (column) {
    case 'group':
      return group.group;
    case 'topic':
      return group.topic;
    case 'lag':
      return group.lag;
    case 'inFlight':
      return group.inFlight;
    case 'retrying':
      return group.retryPending;
    case 'dlq':
      return group.dlqCount;
    case 'consumeRate':
      return group.deliveryRatePerSec;
    case 'dedupWindow':
      // "Never expires" is the longest window.
      return group.dedupWindowMs ?? Number.MAX_SAFE_INTEGER;
  }
}

function topicSortValue(topic: TopicRow, column: (typeof TOPIC_SORT.columns)[number]): string | number | null {
  switch (column) {
    case 'topic':
      return topic.topic;
    case 'stored':
      return topic.storedMessages;
    case 'publishRate':
      return topic.publishRatePerSec;
    case 'outboxStuck':
      return topic.outboxStuck;
    case 'outboxDead':
      return topic.outboxDead;
    case 'halvesUnresolved':
      return topic.unresolvedHalves;
    case 'halvesDiscarded':
      return topic.discardedHalves;
  }
}
