import type { AuditEntry } from '../audit/audit-log.service';
import { auditTable } from '../audit/audit.page';
import { hasRole } from '../auth/roles.decorator';
import type { DeadLetterDetail } from './dead-letter.view';
import { formatAge, formatTime, formatWindow, href, html, type SafeHtml } from '../pages/html';
import { reasonField } from '../pages/action-form';
import type { PageContext } from '../pages/layout';

/** What the viewer of a detail page may see of masked fields. */
export interface RevealState {
  /** The configured masked field paths; empty when nothing is masked. */
  fields: string[];
  /** The viewer has the reveal permission. */
  canReveal: boolean;
  /** Shown in clear to this session until then, after an audited reveal. */
  revealedUntil: number | null;
}

/**
 * One dead letter: its facts, last error, payload (masked unless revealed), headers, the history of its message in
 * the group, the actions an operator may take on it, and its audit entries.
 *
 * @param back the list URL the operator came from (filters, sort and page), already checked to be a console list
 *   URL; after an action the page returns there. Without it, the list of the letter's group.
 */
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

/** What an edit is checked against, in words. */
function validationText(validation: string): string {
  if (validation === 'none') return 'nothing (JSON only)';
  if (validation === 'live-consumer') return "a live consumer's DTO or schema, asked through the broker";
  return validation.replace(/^dto:/, '');
}
