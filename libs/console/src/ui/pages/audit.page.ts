import type { AuditEntry } from '../../audit/audit-log.service';
import { formatTime, href, html, type SafeHtml } from '../html';
import { pager, type PageContext } from '../layout';

export function auditTable(base: string, entries: AuditEntry[]): SafeHtml {
  if (entries.length === 0) return html`<p class="empty">No audit entries.</p>`;
  return html`<table class="sortable audit">
    <thead>
      <tr>
        <th data-sort="number">When</th>
        <th data-sort="text">Who</th>
        <th data-sort="text">What</th>
        <th data-sort="text">Target</th>
        <th data-sort="number">How many</th>
        <th data-sort="text">Why</th>
        <th data-sort="text">Outcome</th>
        <th>Details</th>
      </tr>
    </thead>
    <tbody>
      ${entries.map(
        (entry) =>
          html`<tr>
            <td data-value="${entry.at}">${formatTime(entry.at)}</td>
            <td>${entry.actor} <span class="role">${entry.role}</span></td>
            <td class="mono">${entry.action}</td>
            <td>${linkTarget(base, entry.target)}</td>
            <td data-value="${entry.count}">${entry.count}</td>
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
  </table>`;
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
): SafeHtml {
  const { base } = context;
  return html` <form class="filters" method="get" action="${base}/audit" aria-label="Filter the audit log">
      <label>Who <input name="actor" value="${query.actor ?? ''}" maxlength="128" /></label>
      <label
        >What <input name="action" value="${query.action ?? ''}" maxlength="128" placeholder="e.g. dead-letters."
      /></label>
      <label>Target contains <input name="target" value="${query.target ?? ''}" maxlength="255" /></label>
      <label>From <input name="from" type="datetime-local" step="1" value="${query.from ?? ''}" /></label>
      <label>Before <input name="to" type="datetime-local" step="1" value="${query.to ?? ''}" /></label>
      <button type="submit">Filter</button>
      <a href="${href(base, 'audit')}">Clear</a>
    </form>
    ${error ? html`<p class="error" role="alert">${error}</p>` : ''} ${auditTable(base, page.items)}
    ${pager(base, 'audit', query, page.total, limit, offset)}`;
}
