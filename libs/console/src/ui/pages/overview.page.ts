import type { Series } from '../../overview/metrics-sampler.service';
import type { OverviewView } from '../../overview/overview.service';
import { lineChart } from '../charts';
import { formatAge, formatTime, formatWindow, href, html, type SafeHtml } from '../html';
import type { PageContext } from '../layout';

export function overviewPage(
  context: PageContext,
  view: OverviewView,
  series: Series[],
  range: string,
  rangeMs: number,
  ranges: readonly string[],
): SafeHtml {
  const { base } = context;
  const of = (kind: string): Series[] => series.filter((entry) => entry.kind === kind);
  const from = context.now - rangeMs;
  const problems =
    view.deadLetters.total +
    view.outbox.services.reduce(
      (sum, service) => sum + (service.counts ? service.counts.stuck + service.counts.dead : 0),
      0,
    ) +
    view.transactions.discarded;
  return html` <section aria-labelledby="now">
      <h2 id="now">Now <small>${formatTime(view.at)}</small></h2>
      <ul class="tiles">
        <li class="${view.deadLetters.total > 0 ? 'bad' : 'ok'}">
          <a href="${href(base, 'dead-letters')}"><strong>${view.deadLetters.total}</strong> dead letters</a>
        </li>
        ${view.outbox.services.map(
          (service) =>
            html`<li
              class="${service.error || (service.counts && service.counts.stuck + service.counts.dead > 0) ? 'bad' : 'ok'}"
            >
              <a href="${href(base, 'outbox', { service: service.name })}"
                >outbox <em>${service.name}</em>:
                ${service.counts ? html`<strong>${service.counts.stuck}</strong> stuck, <strong>${service.counts.dead}</strong> dead, ${service.counts.pending} pending` : html`<span class="error">${service.error}</span>`}</a
              >
            </li>`,
        )}
        ${
          view.transactions.supported
            ? html`<li class="${view.transactions.discarded > 0 ? 'bad' : 'ok'}">
                <a href="${href(base, 'transactions')}"
                  ><strong>${view.transactions.discarded}</strong> discarded, ${view.transactions.unresolved} unresolved
                  half messages</a
                >
              </li>`
            : ''
        }
      </ul>
      ${problems === 0 ? html`<p class="ok-note">Nothing waits for an operator.</p>` : ''}
      ${view.broker.statsError ? html`<p class="error">Broker statistics are unavailable: ${view.broker.statsError}</p>` : ''}
      ${!view.broker.statsAvailable && !view.broker.statsError ? html`<p class="note">This broker gives no backlog or rate statistics; counts come from its DLQ and half-message lists.</p>` : ''}
    </section>

    <section aria-labelledby="groups">
      <h2 id="groups">Consumer groups</h2>
      ${
        view.groups.length === 0
          ? html`<p class="empty">No consumer group statistics.</p>`
          : html`<table class="sortable">
              <thead>
                <tr>
                  <th data-sort="text">Group</th>
                  <th data-sort="text">Topic</th>
                  <th data-sort="number">Backlog (lag)</th>
                  <th data-sort="number">In flight</th>
                  <th data-sort="number">Retrying</th>
                  <th data-sort="number">DLQ</th>
                  <th data-sort="number">Consumed/s</th>
                  <th data-sort="number">Dedup window</th>
                </tr>
              </thead>
              <tbody>
                ${view.groups.map(
                  (group) =>
                    html`<tr>
                      <td>${group.group}</td>
                      <td>${group.topic}</td>
                      <td data-value="${group.lag}">${group.lag}</td>
                      <td data-value="${group.inFlight}">${group.inFlight}</td>
                      <td data-value="${group.retryPending}">${group.retryPending}</td>
                      <td data-value="${group.dlqCount}">
                        ${group.dlqCount > 0 ? html`<a href="${href(base, 'dead-letters', { group: group.group, topic: group.topic })}">${group.dlqCount}</a>` : '0'}
                      </td>
                      <td data-value="${group.deliveryRatePerSec}">${group.deliveryRatePerSec}</td>
                      <td data-value="${group.dedupWindowMs ?? Number.MAX_SAFE_INTEGER}">
                        ${formatWindow(group.dedupWindowMs)}
                      </td>
                    </tr>`,
                )}
              </tbody>
            </table>`
      }
    </section>

    <section aria-labelledby="topics">
      <h2 id="topics">Topics</h2>
      ${
        view.topics.length === 0
          ? html`<p class="empty">No topics.</p>`
          : html`<table class="sortable">
              <thead>
                <tr>
                  <th data-sort="text">Topic</th>
                  <th data-sort="number">Stored</th>
                  <th data-sort="number">Published/s</th>
                  <th data-sort="number">Outbox stuck</th>
                  <th data-sort="number">Outbox dead</th>
                  <th data-sort="number">Half msgs unresolved</th>
                  <th data-sort="number">Half msgs discarded</th>
                </tr>
              </thead>
              <tbody>
                ${view.topics.map(
                  (topic) =>
                    html`<tr>
                      <td>${topic.topic}</td>
                      <td data-value="${topic.storedMessages ?? -1}">${topic.storedMessages ?? '–'}</td>
                      <td data-value="${topic.publishRatePerSec ?? -1}">${topic.publishRatePerSec ?? '–'}</td>
                      <td data-value="${topic.outboxStuck}">${topic.outboxStuck}</td>
                      <td data-value="${topic.outboxDead}">${topic.outboxDead}</td>
                      <td data-value="${topic.unresolvedHalves}">${topic.unresolvedHalves}</td>
                      <td data-value="${topic.discardedHalves}">${topic.discardedHalves}</td>
                    </tr>`,
                )}
              </tbody>
            </table>`
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
            html`<a href="${href(base, '', { range: name })}" ${name === range ? html` aria-current="true"` : ''}
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
