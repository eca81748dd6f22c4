import type { ConsolePrincipal } from '../http/console-request';
import { hasRole } from '../auth/roles.decorator';
import type { ConsoleBundle } from './console-assets';
import { html, href, type SafeHtml } from './html';

/** What every page needs: where the console is mounted, who is looking, and the CSRF token for its actions. */
export interface PageContext {
  base: string;
  principal: ConsolePrincipal;
  brokerLabel: string;
  now: number;
  /** The built front end's files, by hashed name. */
  bundle: ConsoleBundle;
}

/** The stylesheets, and with `withScript` the module script, of the built bundle. */
function head(base: string, bundle: ConsoleBundle, withScript: boolean): SafeHtml {
  // An empty icon: browsers would otherwise ask the host app for /favicon.ico.
  return html`<link rel="icon" href="data:," />
    ${bundle.styles.map((file) => html`<link rel="stylesheet" href="${base}/assets/${file}" />`)}
    ${withScript ? bundle.scripts.map((file) => html`<script type="module" src="${base}/assets/${file}"></script>`) : ''}`;
}

const NAV: Array<[path: string, label: string, role: 'viewer' | 'admin']> = [
  ['', 'Overview', 'viewer'],
  ['backlog', 'Backlog', 'viewer'],
  ['dead-letters', 'Dead letters', 'viewer'],
  ['outbox', 'Outbox', 'viewer'],
  ['transactions', 'Transactions', 'viewer'],
  ['audit', 'Audit log', 'viewer'],
  ['admin', 'Admin', 'admin'],
];

export function layout(context: PageContext, current: string, title: string, content: SafeHtml): string {
  const { base, principal } = context;
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="csrf-token" content="${principal.csrfToken ?? ''}" />
        <meta name="console-base" content="${base}" />
        <title>${title} · ReliableMQ console</title>
        ${head(base, context.bundle, true)}
      </head>
      <body>
        <a class="skip" href="#main" data-testid="skip-link">Skip to content</a>
        <header class="top">
          <a class="brand" href="${href(base, '')}">ReliableMQ console</a>
          <span class="broker" title="Broker">${context.brokerLabel}</span>
          <nav aria-label="Sections" data-testid="nav">
            <ul>
              ${NAV.filter(([, , role]) => hasRole(principal, role)).map(
                ([path, label]) =>
                  html`<li>
                    <a
                      href="${href(base, path)}"
                      data-testid="nav-${path || 'overview'}"
                      ${current === path ? html` aria-current="page"` : ''}
                      >${label}</a
                    >
                  </li>`,
              )}
            </ul>
          </nav>
          <form class="who" data-endpoint="api/auth/logout" data-after="login">
            <span>${principal.name} <span class="role">${principal.role}</span></span>
            <button type="button" class="secondary" data-keyboard-help data-testid="keyboard-help-button" hidden>
              Keyboard shortcuts
            </button>
            <button type="submit" data-testid="logout">Log out</button>
          </form>
        </header>
        <main id="main" tabindex="-1">
          <h1>${title}</h1>
          <p class="result" data-result data-testid="result" role="status" aria-live="polite" tabindex="-1"></p>
          ${content}
        </main>
      </body>
    </html> `.value;
}

/** The login page: a plain form that works without script. */
export function loginPage(
  base: string,
  bundle: ConsoleBundle,
  next: string,
  error: string | null,
  loginToken: string,
): string {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>Log in · ReliableMQ console</title>
        ${head(base, bundle, false)}
      </head>
      <body class="login">
        <main id="main">
          <h1>ReliableMQ console</h1>
          <form method="post" action="${base}/login" class="login-form" data-testid="login-form">
            ${error ? html`<p class="error" role="alert">${error}</p>` : ''}
            <input type="hidden" name="next" value="${next}" />
            <input type="hidden" name="loginToken" value="${loginToken}" />
            <label>Username <input name="username" autocomplete="username" required autofocus maxlength="64" /></label>
            <label
              >Password
              <input name="password" type="password" autocomplete="current-password" required maxlength="1024"
            /></label>
            <button type="submit">Log in</button>
          </form>
        </main>
      </body>
    </html> `.value;
}

/** A page for 403, 404 and errors, with the message escaped like everything else. */
export function messagePage(base: string, bundle: ConsoleBundle, title: string, message: string): string {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title} · ReliableMQ console</title>
        ${head(base, bundle, false)}
      </head>
      <body>
        <main id="main">
          <h1>${title}</h1>
          <p data-testid="error-message">${message}</p>
          <p><a href="${href(base, '')}">Back to the overview</a></p>
        </main>
      </body>
    </html> `.value;
}

/** Pagination links that keep the filters of the current URL. */
export function pager(
  base: string,
  path: string,
  query: Record<string, unknown>,
  total: number,
  limit: number,
  offset: number,
): SafeHtml {
  const last = Math.max(0, total - 1);
  const from = total === 0 ? 0 : offset + 1;
  const to = Math.min(total, offset + limit);
  return html`<nav class="pager" aria-label="Pages" data-testid="pager">
    <span>${from}–${to} of ${total}</span>
    ${offset > 0 ? html`<a href="${href(base, path, { ...query, offset: Math.max(0, offset - limit) || undefined })}" rel="prev">← Previous</a>` : ''}
    ${offset + limit <= last ? html`<a href="${href(base, path, { ...query, offset: offset + limit })}" rel="next">Next →</a>` : ''}
  </nav>`;
}
