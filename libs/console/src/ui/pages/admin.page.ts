import type { ConsoleUserView } from '../../auth/user-directory.service';
import { CONSOLE_ROLES } from '../../console-options.interface';
import type { RetryJobView } from '../../jobs/retry-job.service';
import type { ConsoleSettings } from '../../settings/console-settings.service';
import type { ConsumerView } from '../../sources/consumer-catalog.service';
import { formatTime, formatWindow, html, type SafeHtml } from '../html';
import type { PageContext } from '../layout';

export interface AdminPageModel {
  users: ConsoleUserView[];
  settings: ConsoleSettings;
  maxRate: number;
  consumers: ConsumerView[];
  jobs: RetryJobView[];
}

export function adminPage(_context: PageContext, model: AdminPageModel): SafeHtml {
  return html` <section aria-labelledby="users">
      <h2 id="users">Users</h2>
      <table class="sortable">
        <thead>
          <tr>
            <th data-sort="text">Username</th>
            <th data-sort="text">Role</th>
            <th data-sort="text">Source</th>
            <th>Actions</th>
          </tr>
        </thead>
        <tbody>
          ${model.users.map(
            (user) =>
              html`<tr>
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
      </table>
      <form data-endpoint="api/admin/users" data-reload>
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
          : html`<table class="sortable">
              <thead>
                <tr>
                  <th data-sort="text">Group</th>
                  <th data-sort="text">Topic</th>
                  <th data-sort="text">Handler</th>
                  <th data-sort="text">Edits validated against</th>
                  <th data-sort="text">Dedup window</th>
                </tr>
              </thead>
              <tbody>
                ${model.consumers.map(
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
            </table>`
      }
    </section>

    <section aria-labelledby="jobs">
      <h2 id="jobs">Bulk retries</h2>
      ${
        model.jobs.length === 0
          ? html`<p class="empty">No bulk retries since the console started.</p>`
          : html`<table class="sortable">
              <thead>
                <tr>
                  <th data-sort="number">Started</th>
                  <th data-sort="text">By</th>
                  <th data-sort="text">Scope</th>
                  <th data-sort="text">State</th>
                  <th data-sort="number">Resent</th>
                  <th data-sort="number">Skipped</th>
                  <th data-sort="number">Failed</th>
                  <th data-sort="number">Total</th>
                </tr>
              </thead>
              <tbody>
                ${model.jobs.map(
                  (job) =>
                    html`<tr>
                      <td data-value="${job.createdAt}">${formatTime(job.createdAt)}</td>
                      <td>${job.createdBy}</td>
                      <td>${job.scope}</td>
                      <td>${job.state}</td>
                      <td>${job.resent}</td>
                      <td>${job.skipped}</td>
                      <td>${job.failed}</td>
                      <td>${job.total}</td>
                    </tr>`,
                )}
              </tbody>
            </table>`
      }
    </section>`;
}
