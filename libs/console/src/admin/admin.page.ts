import type { ConsoleUserView } from '../auth/user-directory.service';
import { CONSOLE_ROLES } from '../console-options.interface';
import type { RetryJobView } from '../jobs/retry-job.service';
import type { ConsoleSettings } from '../settings/console-settings.service';
import type { ConsumerView } from '../sources/consumer-catalog.service';
import { sortParams, sortSpec } from '../http/sort';
import { formatTime, formatWindow, html, type SafeHtml } from '../pages/html';
import type { PageContext } from '../pages/layout';
import { scrollBox, sortHeader, sortableTable, sortedRows } from '../pages/sortable-table';

/** Users: `sort`/`dir`; handlers: `handlerSort`/`handlerDir`; bulk retries: `jobSort`/`jobDir`. */
export const USER_SORT = sortSpec(['username', 'role', 'source'] as const, { column: 'username', dir: 'asc' });
export const HANDLER_SORT = sortSpec(['group', 'topic', 'handler', 'validation', 'dedupWindow'] as const, {
  column: 'group',
  dir: 'asc',
});
export const JOB_SORT = sortSpec(
  ['started', 'by', 'scope', 'state', 'resent', 'skipped', 'failed', 'total'] as const,
  { column: 'started', dir: 'desc' },
  ['started', 'resent', 'skipped', 'failed', 'total'],
);
export const HANDLER_SORT_PARAMS = sortParams('handler');
export const JOB_SORT_PARAMS = sortParams('job');

export interface AdminPageModel {
  users: ConsoleUserView[];
  settings: ConsoleSettings;
  maxRate: number;
  consumers: ConsumerView[];
  jobs: RetryJobView[];
}

export function adminPage(context: PageContext, model: AdminPageModel, query: Record<string, unknown>): SafeHtml {
  const { base } = context;
  const users = sortableTable({ id: 'users', spec: USER_SORT, base, path: 'admin', query });
  const handlers = sortableTable({
    id: 'handlers',
    spec: HANDLER_SORT,
    base,
    path: 'admin',
    query,
    params: HANDLER_SORT_PARAMS,
  });
  const jobs = sortableTable({ id: 'jobs', spec: JOB_SORT, base, path: 'admin', query, params: JOB_SORT_PARAMS });
  return html` <section aria-labelledby="users">
      <h2 id="users">Users</h2>
      ${scrollBox(
        'Users',
        html`<table data-testid="users-table">
          <thead>
            <tr>
              ${sortHeader(users, 'username', 'Username')} ${sortHeader(users, 'role', 'Role')}
              ${sortHeader(users, 'source', 'Source')}
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            ${sortedRows(users, model.users, (user, column) => (column === 'source' ? user.source : user[column])).map(
              (user) =>
                html`<tr data-testid="user-row">
                  <td>${user.username}</td>
                  <td>${user.role}</td>
                  <td>${user.source === 'config' ? 'module options' : `console (${formatTime(user.createdAt)})`}</td>
                  <td>
                    ${
                      user.source === 'console'
                        ? html`<form
                              class="inline"
                              data-endpoint="api/admin/users/${user.username}"
                              data-method="PATCH"
                              data-reload
                            >
                              <label
                                >Role
                                <select name="role">
                                  ${CONSOLE_ROLES.map((role) => html`<option${role === user.role ? html` selected` : ''}>${role}</option>`)}
                                </select></label
                              >
                              <button type="submit">Change role</button>
                            </form>
                            <form
                              class="inline"
                              data-endpoint="api/admin/users/${user.username}"
                              data-method="DELETE"
                              data-confirm="Remove user ${user.username}?"
                              data-confirm-title="Remove user"
                              data-confirm-label="Remove"
                              data-danger
                              data-reload
                            >
                              <button type="submit" class="danger">Remove</button>
                            </form>`
                        : html`<span class="note">change it in the module options</span>`
                    }
                  </td>
                </tr>`,
            )}
          </tbody>
        </table>`,
      )}
      <form data-endpoint="api/admin/users" data-reload data-testid="add-user-form">
        <fieldset>
          <legend>Add a user</legend>
          <label>Username <input name="username" required pattern="[A-Za-z0-9._\\-]{1,64}" maxlength="64" /></label>
          <label
            >Password
            <input name="password" type="password" required minlength="12" maxlength="1024" autocomplete="new-password"
          /></label>
          <label
            >Role
            <select name="role">
              ${CONSOLE_ROLES.map((role) => html`<option>${role}</option>`)}
            </select></label
          >
          <button type="submit">Add</button>
        </fieldset>
      </form>
    </section>

    <section aria-labelledby="settings">
      <h2 id="settings">Settings</h2>
      <form data-endpoint="api/admin/settings" data-method="PUT" data-reload>
        <fieldset>
          <legend>Settings</legend>
          <label
            >Outbox row is stuck after
            <input name="stuckAfterMs" type="number" min="1000" value="${model.settings.stuckAfterMs}" /> ms</label
          >
          <label
            >Default bulk retry rate
            <input
              name="defaultRetryRatePerSec"
              type="number"
              min="1"
              max="${model.maxRate}"
              value="${model.settings.defaultRetryRatePerSec}"
            />
            msg/s (at most ${model.maxRate})</label
          >
          <button type="submit">Save</button>
        </fieldset>
      </form>
    </section>

    <section aria-labelledby="handlers">
      <h2 id="handlers">Known handlers</h2>
      ${
        model.consumers.length === 0
          ? html`<p class="empty">
              No handlers known: edits are checked as JSON only, and groups use the default dedup window.
            </p>`
          : scrollBox(
              'Known handlers',
              html`<table data-testid="handlers-table">
                <thead>
                  <tr>
                    ${sortHeader(handlers, 'group', 'Group')} ${sortHeader(handlers, 'topic', 'Topic')}
                    ${sortHeader(handlers, 'handler', 'Handler')}
                    ${sortHeader(handlers, 'validation', 'Edits validated against')}
                    ${sortHeader(handlers, 'dedupWindow', 'Dedup window')}
                  </tr>
                </thead>
                <tbody>
                  ${sortedRows(handlers, model.consumers, (consumer, column) =>
                    column === 'dedupWindow' ? (consumer.dedupWindowMs ?? Number.MAX_SAFE_INTEGER) : consumer[column],
                  ).map(
                    (consumer) =>
                      html`<tr>
                        <td>${consumer.group}</td>
                        <td>${consumer.topic}</td>
                        <td class="mono">${consumer.handler ?? ''}</td>
                        <td>${consumer.validation}</td>
                        <td>${formatWindow(consumer.dedupWindowMs)}</td>
                      </tr>`,
                  )}
                </tbody>
              </table>`,
            )
      }
    </section>

    <section aria-labelledby="jobs">
      <h2 id="jobs">Bulk retries</h2>
      ${
        model.jobs.length === 0
          ? html`<p class="empty">No bulk retries kept.</p>`
          : scrollBox(
              'Bulk retries',
              html`<table data-testid="jobs-table">
                <thead>
                  <tr>
                    ${sortHeader(jobs, 'started', 'Started')} ${sortHeader(jobs, 'by', 'By')}
                    ${sortHeader(jobs, 'scope', 'Scope')} ${sortHeader(jobs, 'state', 'State')}
                    ${sortHeader(jobs, 'resent', 'Resent')} ${sortHeader(jobs, 'skipped', 'Skipped')}
                    ${sortHeader(jobs, 'failed', 'Failed')} ${sortHeader(jobs, 'total', 'Total')}
                  </tr>
                </thead>
                <tbody>
                  ${sortedRows(jobs, model.jobs, jobSortValue).map(
                    (job) =>
                      html`<tr>
                        <td>${formatTime(job.createdAt)}</td>
                        <td>${job.createdBy}</td>
                        <td>${job.scope}</td>
                        <td>${job.state === 'interrupted' ? `interrupted, ${job.remaining} not sent` : job.state}</td>
                        <td>${job.resent}</td>
                        <td>${job.skipped}</td>
                        <td>${job.failed}</td>
                        <td>${job.total}</td>
                      </tr>`,
                  )}
                </tbody>
              </table>`,
            )
      }
    </section>`;
}

function jobSortValue(job: RetryJobView, column: (typeof JOB_SORT.columns)[number]): string | number {
  switch (column) {
    case 'started':
      return job.createdAt;
    case 'by':
      return job.createdBy;
    case 'scope':
      return job.scope;
    case 'state':
      return job.state;
    case 'resent':
      return job.resent;
    case 'skipped':
      return job.skipped;
    case 'failed':
      return job.failed;
    case 'total':
      return job.total;
  }
}
