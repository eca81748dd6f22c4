import { hasRole } from '../auth/roles.decorator';
import type { HalfMessageSortColumn } from './transactions.dto';
import type { HalfMessageView, HalfState } from './transactions.service';
import { formatAge, formatTime, href, html, type SafeHtml } from '../pages/html';
import { discardSelectedForm, selectAllHeader, selectionForm, selectRowCell } from '../pages/action-form';
import { pager, type PageContext } from '../pages/layout';
import { scrollBox, sortFields, sortHeader, type SortableTable } from '../pages/sortable-table';

export interface TransactionsPageModel {
  supported: boolean;
  state: HalfState;
  query: Record<string, string>;
  total: number;
  items: HalfMessageView[];
  counts: { unresolved: number; discarded: number };
  limit: number;
  offset: number;
  error: string | null;
  table: SortableTable<HalfMessageSortColumn>;
}

export function transactionsPage(context: PageContext, model: TransactionsPageModel): SafeHtml {
  const { base } = context;
  if (!model.supported) return html`<p class="empty">This broker has no transactional (half) messages.</p>`;
  const operator = hasRole(context.principal, 'operator');
  const settle = operator && model.state === 'discarded' && model.total > 0;
  const table = model.table;
  return html` <p class="note">
      Unresolved half messages wait for their producer's commit or rollback, or for a checkback answer; the broker keeps
      asking. Discarded ones ran out of checks: commit them (consumers get them) or discard them (never delivered).
    </p>
    <nav class="tabs" aria-label="State">
      <a
        href="${href(base, 'transactions', { state: 'unresolved' })}"
        ${model.state === 'unresolved' ? html` aria-current="page"` : ''}
        >Unresolved (${model.counts.unresolved})</a
      >
      <a
        href="${href(base, 'transactions', { state: 'discarded' })}"
        ${model.state === 'discarded' ? html` aria-current="page"` : ''}
        >Discarded (${model.counts.discarded})</a
      >
    </nav>
    <form
      class="filters"
      method="get"
      action="${base}/transactions"
      aria-label="Filter half messages"
      data-testid="filters"
    >
      <input type="hidden" name="state" value="${model.state}" />
      ${sortFields(table)}
      <label
        >Producer group <input name="producerGroup" value="${model.query.producerGroup ?? ''}" maxlength="255"
      /></label>
      <label>Topic <input name="topic" value="${model.query.topic ?? ''}" maxlength="255" /></label>
      <label>Transaction or message id <input name="id" value="${model.query.id ?? ''}" maxlength="128" /></label>
      <button type="submit" data-testid="filter-submit">Filter</button>
    </form>
    ${model.error ? html`<p class="error" role="alert">${model.error}</p>` : ''}
    ${
      settle
        ? html`<section class="actions" aria-label="Actions on discarded half messages">
            ${selectionForm({
              endpoint: 'api/transactions/commit',
              selection: 'half-messages',
              ids: 'txIds',
              confirm: {
                message: 'Commit the selected half messages? Consumers will receive them.',
                title: 'Commit half messages',
                label: 'Commit',
              },
              reasonRequired: false,
              legend: 'Commit selected',
              button: 'Commit',
              testId: 'commit-form',
            })}
            ${discardSelectedForm({
              endpoint: 'api/transactions/discard',
              selection: 'half-messages',
              ids: 'txIds',
              question: 'Discard the selected half messages? They will never be delivered.',
              title: 'Discard half messages',
            })}
          </section>`
        : ''
    }
    ${
      model.items.length === 0
        ? html`<p class="empty">No ${model.state} half messages.</p>`
        : scrollBox(
            'Half messages',
            html`<table id="half-messages" data-testid="half-messages-table">
              <thead>
                <tr>
                  ${settle ? selectAllHeader('half-messages') : ''} ${sortHeader(table, 'txId', 'Transaction')}
                  ${sortHeader(table, 'producerGroup', 'Producer group')} ${sortHeader(table, 'topic', 'Topic')}
                  ${sortHeader(table, 'key', 'Key')} ${sortHeader(table, 'sentAt', 'Sent')}
                  ${sortHeader(table, 'checks', 'Checks')}
                  ${model.state === 'unresolved' ? sortHeader(table, 'nextCheckAt', 'Next check') : sortHeader(table, 'reason', 'Reason')}
                  <th scope="col">Payload</th>
                </tr>
              </thead>
              <tbody>
                ${model.items.map(
                  (half) =>
                    html`<tr data-testid="half-message-row" data-id="${half.txId}">
                      ${settle ? selectRowCell(half.txId, `Select ${half.txId}`) : ''}
                      <td class="mono">${half.txId}<br /><small>message ${half.messageId}</small></td>
                      <td>${half.producerGroup}</td>
                      <td>${half.topic}</td>
                      <td class="mono">${half.key ?? ''}</td>
                      <td>${formatTime(half.sentAt)} (${formatAge(context.now - half.sentAt)} ago)</td>
                      <td>${half.checkCount}</td>
                      <td>${model.state === 'unresolved' ? formatTime(half.nextCheckAt) : (half.reason ?? '')}</td>
                      <td>
                        <details>
                          <summary>show</summary>
                          <pre class="payload">${half.payload.text}</pre>
                          <p>Headers: <span class="mono">${JSON.stringify(half.headers)}</span></p>
                        </details>
                      </td>
                    </tr>`,
                )}
              </tbody>
            </table>`,
          )
    }
    ${pager(base, 'transactions', { ...table.query, state: model.state }, model.total, model.limit, model.offset)}`;
}
