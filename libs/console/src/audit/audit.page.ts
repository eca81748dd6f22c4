import type { AuditEntry } from './audit-log.service';
import type { AuditSortColumn } from './audit-query.dto';
import { formatTime, href, html, type SafeHtml } from '../pages/html';
import { pager, type PageContext } from '../pages/layout';
import { scrollBox, sortFields, sortHeader, type SortableTable } from '../pages/sortable-table';

/** Audit entries; with `table`, its headers sort the audit page, otherwise (a detail page's history) they are plain. */
export function auditTable(base: string, entries: AuditEntry[], table?: SortableTable<AuditSortColumn>): SafeHtml {
  if (entries.length === 0) return html`<p class="empty">No audit entries.</p>`;
  const header = (column: AuditSortColumn, label: string): SafeHtml =>
    table ? sortHeader(table, column, label) : html`<th scope="col">${label}</th>`;
  return scrollBox(
    'Audit entries',
    html`<table class="audit${table ? '' : ' wrap'}" data-testid="audit-table">
      <thead>
        <tr>
          ${header('at', 'When')} ${header('actor', 'Who')} ${header('action', 'What')} ${header('target', 'Target')}
          ${header('count', 'How many')} ${header('reason', 'Why')} ${header('outcome', 'Outcome')}
          <th scope="col">Details</th>
        </tr>
      </thead>
      <tbody>
        ${entries.map(
          (entry) =>
            html`<tr data-testid="audit-row">
              <td>${formatTime(entry.at)}</td>
              <td>${entry.actor} <span class="role">${entry.role}</span></td>
              <td class="mono">${entry.action}</td>
              <td>${linkTarget(base, entry.target)}</td>
              <td>${entry.count}</td>
              <td>${entry.reason ?? ''}</td>
              <td class="outcome ${entry.outcome}">${entry.outcome}</td>
              <td>
                ${
                  entry.details
                    ? html`<details>
                        <summary>show</summary>
                        <pre>${JSON.stringify(entry.details, null, 2)}</pre>
                      </details>`
                    : ''
                }
              </td>
            </tr>`,
        )}
      </tbody>
    </table>`,
  );
}

function linkTarget(base: string, target: string): SafeHtml | string {
  const letter = /^dead-letter (\d+)$/.exec(target);
  if (letter) return html`<a href="${href(base, `dead-letters/${letter[1]}`)}">${target}</a>`;
  return target;
}

export function auditPage(
  context: PageContext,
  query: Record<string, string>,
  page: { total: number; items: AuditEntry[] },
  limit: number,
  offset: number,
  error: string | null,
  table: SortableTable<AuditSortColumn>,
): SafeHtml {
  const { base } = context;
  return html` <form
      class="filters"
      method="get"
      action="${base}/audit"
      aria-label="Filter the audit log"
      data-testid="filters"
    >
      ${sortFields(table)}
      <label>Who <input name="actor" value="${query.actor ?? ''}" maxlength="128" /></label>
      <label
        >What <input name="action" value="${query.action ?? ''}" maxlength="128" placeholder="e.g. dead-letters."
      /></label>
      <label>Target contains <input name="target" value="${query.target ?? ''}" maxlength="255" /></label>
      <label>From <input name="from" type="datetime-local" step="1" value="${query.from ?? ''}" /></label>
      <label>Before <input name="to" type="datetime-local" step="1" value="${query.to ?? ''}" /></label>
      <button type="submit" data-testid="filter-submit">Filter</button>
      <a href="${href(base, 'audit')}" data-testid="filter-clear">Clear</a>
    </form>
    ${error ? html`<p class="error" role="alert">${error}</p>` : ''} ${auditTable(base, page.items, table)}
    ${pager(base, 'audit', query, page.total, limit, offset)}`;
}
