import { html, type SafeHtml } from './html';

/** The reason field of an action: optional, or required (a discard must say why). */
export function reasonField(required: boolean): SafeHtml {
  return required
    ? html`<label>Reason <input name="reason" required maxlength="500" placeholder="required" /></label>`
    : html`<label>Reason <input name="reason" maxlength="500" placeholder="optional" /></label>`;
}

export interface SelectionFormSpec {
  /** JSON API path relative to the mount, e.g. `api/outbox/orders/requeue`. */
  endpoint: string;
  /** The checkbox group whose ticked rows the action takes (`data-select-all` / `name="select"` of the table). */
  selection: string;
  /** The body field the ticked values go in. */
  ids: string;
  numericIds?: boolean;
  /** A question asked before anything is sent. */
  confirm?: { message: string; title: string; label: string };
  /** A destructive action: red button and dialog. */
  danger?: boolean;
  reasonRequired: boolean;
  legend: string;
  button: string;
  testId: string;
}

/** An action on the rows ticked in a table, with a reason, sent through the JSON API and followed by a reload. */
export function selectionForm(spec: SelectionFormSpec): SafeHtml {
  const confirm = spec.confirm
    ? html` data-confirm="${spec.confirm.message}" data-confirm-title="${spec.confirm.title}"
      data-confirm-label="${spec.confirm.label}"`
    : '';
  return html`<form
    data-endpoint="${spec.endpoint}"
    data-selection="${spec.selection}"
    data-ids="${spec.ids}"
    ${spec.numericIds ? html`data-id-type="number"` : ''}
    ${confirm}
    ${spec.danger ? html`data-danger` : ''}
    data-reload
    data-testid="${spec.testId}"
  >
    <fieldset>
      <legend>${spec.legend}</legend>
      ${reasonField(spec.reasonRequired)}
      <button type="submit" ${spec.danger ? html` class="danger"` : ''}>${spec.button}</button>
    </fieldset>
  </form>`;
}

export interface DiscardSelectedSpec {
  endpoint: string;
  selection: string;
  ids: string;
  /** What the operator is asked before the rows go, saying what is lost. */
  question: string;
  title: string;
}

/**
 * The discard of ticked rows every settle page offers: destructive, so it asks first, and it needs a reason, which the
 * audit log keeps.
 */
export function discardSelectedForm(spec: DiscardSelectedSpec): SafeHtml {
  return selectionForm({
    endpoint: spec.endpoint,
    selection: spec.selection,
    ids: spec.ids,
    confirm: { message: spec.question, title: spec.title, label: 'Discard' },
    danger: true,
    reasonRequired: true,
    legend: 'Discard selected',
    button: 'Discard',
    testId: 'discard-selected-form',
  });
}

/** The header cell that ticks or clears every row of the `selection` checkbox group on the page. */
/**
 * A row's checkbox in a table with `selectAllHeader`: its value is what the action takes (`name="select"`), its label
 * names the row for screen readers. `disabledWhy`, when given, disables it and says why in its title.
 */
export function selectRowCell(value: string | number, label: string, disabledWhy?: string): SafeHtml {
  return html`<td>
    <input
      type="checkbox"
      name="select"
      value="${value}"
      aria-label="${label}"
      data-testid="select-row"
      ${disabledWhy ? html` disabled title="${disabledWhy}"` : ''}
    />
  </td>`;
}

export function selectAllHeader(selection: string): SafeHtml {
  return html`<th scope="col">
    <input
      type="checkbox"
      data-select-all="${selection}"
      data-testid="select-all"
      aria-label="Select all on this page"
    />
  </th>`;
}
