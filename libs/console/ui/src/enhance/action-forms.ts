import { api, messagesOf, type ApiProblem } from '../api';
import { askConfirm } from '../components/dialog-host';
import { SERVER_ERRORS_EVENT } from '../components/json-editor';
import { checkJson } from '../json-check';
import { clearResult, showResult } from '../components/result-message';
import { selectedValues } from '../components/selection-count';
import { page } from '../page';

const DEDUP_CODE = 'DEDUP_WINDOW_CONFIRMATION_REQUIRED';
const UNCHECKED_CODE = 'EDIT_UNCHECKED_CONFIRMATION_REQUIRED';
/** Long enough to read the result line before the page shows the new state. */
const RELOAD_DELAY_MS = 700;

class FormProblem extends Error {
  constructor(
    message: string,
    readonly field?: HTMLElement,
  ) {
    super(message);
  }
}

type Field = HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;

function fieldsOf(form: HTMLFormElement): Field[] {
  return [...form.elements].filter(
    (element): element is Field =>
      element instanceof HTMLInputElement ||
      element instanceof HTMLSelectElement ||
      element instanceof HTMLTextAreaElement,
  );
}

/** The JSON body of an action form, from its named fields and, for selection forms, the ticked rows. */
function bodyOf(form: HTMLFormElement): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const field of fieldsOf(form)) {
    if (!field.name || field.disabled || field.name === 'select') continue;
    if (field.required && field.value.trim() === '') {
      const label = field.closest('label')?.firstChild?.textContent?.trim() || field.name;
      throw new FormProblem(`${label} is required.`, field);
    }
    if (field.value === '' && !field.required) continue;
    if (field.dataset.json !== undefined) {
      const check = checkJson(field.value);
      if (!check.ok) throw new FormProblem(`${field.name}: ${check.message}`, field);
      body[field.name] = JSON.parse(field.value);
    } else if (field instanceof HTMLInputElement && field.type === 'number') {
      body[field.name] = Number(field.value);
    } else if (field instanceof HTMLInputElement && field.type === 'checkbox') {
      body[field.name] = field.checked;
    } else {
      body[field.name] = field.value;
    }
  }
  const selection = form.dataset.selection;
  if (selection) {
    const values = selectedValues(selection);
    if (values.length === 0) throw new FormProblem('Select at least one row first.');
    body[form.dataset.ids || 'ids'] = form.dataset.idType === 'number' ? values.map(Number) : values;
  }
  return body;
}

function describe(data: unknown): string {
  if (!data || typeof data !== 'object') return 'Done.';
  const record = data as Record<string, unknown>;
  if (typeof record.fromTopic === 'string' && typeof record.toTopic === 'string') {
    return `Backlog move started: ${String(record.group)}, ${record.fromTopic} → ${record.toTopic}.`;
  }
  if (typeof record.name === 'string' && typeof record.queueCount === 'number') {
    return `Topic ${record.name} now has ${record.queueCount} queues.`;
  }
  if (typeof record.state === 'string' && record.total !== undefined) {
    if (record.state === 'running' && typeof record.resumedBy === 'string') {
      return `Bulk retry resumed: ${String(record.remaining)} of ${String(record.total)} messages left at ${String(record.ratePerSec)}/s.`;
    }
    if (record.state !== 'running') return `Bulk retry ${record.state}.`;
    return `Bulk retry started: ${String(record.total)} messages at ${String(record.ratePerSec)}/s.`;
  }
  const parts: string[] = [];
  for (const [name, value] of Object.entries(record)) {
    if (Array.isArray(value)) parts.push(`${name}: ${value.length}`);
    else if (typeof value === 'number') parts.push(`${name}: ${value}`);
  }
  return parts.length > 0 ? `Done (${parts.join(', ')}).` : 'Done.';
}

/** A confirmation may name what the operator typed: `{field}` becomes that field's value in the request. */
function withFieldValues(message: string, body: Record<string, unknown>): string {
  return message.replace(/\{([A-Za-z]+)\}/g, (whole, name: string) =>
    body[name] === undefined || body[name] === null ? whole : String(body[name]),
  );
}

function dedupQuestion(problem: ApiProblem): Parameters<typeof askConfirm>[0] {
  const examples = (problem.examples ?? []).map(
    (example) => `Dead letter ${example.id} (${example.group}), ${Math.round(example.ageMs / 60_000)} min old`,
  );
  return {
    title: 'Older than the dedup window',
    message: [
      ...messagesOf(problem, 409).map((text) => text.replace(/ Send confirmDedupWindow: true to retry anyway\.$/, '')),
      'Retry anyway? The handler will run again for these messages.',
    ],
    details: examples,
    confirmLabel: 'Retry anyway',
  };
}

function uncheckedQuestion(problem: ApiProblem): Parameters<typeof askConfirm>[0] {
  return {
    title: 'Edit not checked',
    message: [
      ...messagesOf(problem, 409).map((text) =>
        text.replace(/ Send confirmUnchecked: true to send it unchecked\.$/, ''),
      ),
      'Send the edit unchecked? The audit log records that it was.',
    ],
    details: [],
    confirmLabel: 'Send unchecked',
  };
}

/** A 409 the operator may overrule: the question to ask, the flag that overrules it, and what to say on "no". */
function confirmationFor(
  problem: ApiProblem | null,
): { question: Parameters<typeof askConfirm>[0]; flag: string; declined: string } | null {
  if (problem?.code === DEDUP_CODE) {
    return {
      question: dedupQuestion(problem),
      flag: 'confirmDedupWindow',
      declined: 'Not retried: the dedup-window warning was not confirmed.',
    };
  }
  if (problem?.code === UNCHECKED_CODE) {
    return {
      question: uncheckedQuestion(problem),
      flag: 'confirmUnchecked',
      declined: 'Not retried: the edit could not be checked, and sending it unchecked was not confirmed.',
    };
  }
  return null;
}

/** Where to go after the action: a given console URL (the filtered list), or this same URL again. */
function afterSuccess(form: HTMLFormElement): void {
  if (form.dataset.after === 'login') {
    window.location.assign(`${page.base}/login`);
    return;
  }
  const next = form.dataset.afterUrl;
  const base = page.base;
  if (next && (next === base || next.startsWith(`${base}/`) || next.startsWith(`${base}?`)) && !next.includes('//')) {
    window.setTimeout(() => window.location.assign(next), RELOAD_DELAY_MS);
    return;
  }
  if (form.dataset.reload !== undefined) window.setTimeout(() => window.location.reload(), RELOAD_DELAY_MS);
}

async function submit(form: HTMLFormElement): Promise<void> {
  const method = form.dataset.method || 'POST';
  clearResult();
  let body: Record<string, unknown> | undefined;
  try {
    body = method === 'DELETE' ? undefined : bodyOf(form);
  } catch (error) {
    showResult((error as Error).message, true);
    if (error instanceof FormProblem && error.field) error.field.focus();
    return;
  }
  if (form.dataset.confirm) {
    const reason = typeof body?.reason === 'string' && body.reason !== '' ? [`Reason: ${body.reason}`] : [];
    const yes = await askConfirm({
      title: form.dataset.confirmTitle || 'Please confirm',
      message: [withFieldValues(form.dataset.confirm, body ?? {})],
      details: reason,
      confirmLabel: form.dataset.confirmLabel || 'Confirm',
      danger: form.dataset.danger !== undefined,
    });
    if (!yes) return;
  }
  const buttons = [...form.querySelectorAll<HTMLButtonElement>('button')];
  const wasDisabled = buttons.map((button) => button.disabled);
  for (const button of buttons) button.disabled = true;
  try {
    const endpoint = form.dataset.endpoint!;
    let answer = await api(method, endpoint, body);
    let sent = body;
    // Each warning is confirmed on its own (dedup window, then an unchecked edit); at most once each.
    const confirmed = new Set<string>();
    for (;;) {
      const confirmation = answer.status === 409 ? confirmationFor(answer.data as ApiProblem | null) : null;
      if (!confirmation || confirmed.has(confirmation.flag)) break;
      if (!(await askConfirm(confirmation.question))) {
        showResult(confirmation.declined, true, false);
        return;
      }
      confirmed.add(confirmation.flag);
      sent = { ...sent, [confirmation.flag]: true };
      answer = await api(method, endpoint, sent);
    }
    if (answer.status >= 400) {
      const messages = messagesOf(answer.data, answer.status);
      if (answer.status === 422 || answer.status === 400) {
        form.dispatchEvent(new CustomEvent(SERVER_ERRORS_EVENT, { detail: messages }));
      }
      showResult(messages.join(' '), true);
      return;
    }
    showResult(describe(answer.data), false);
    afterSuccess(form);
  } catch (error) {
    showResult(`The request failed: ${(error as Error).message}`, true);
  } finally {
    buttons.forEach((button, index) => {
      button.disabled = wasDisabled[index] ?? false;
    });
  }
}

/** Forms with `data-endpoint` call the JSON API instead of navigating; the result shows in the status line. */
export function enhanceActionForms(): void {
  for (const form of document.querySelectorAll<HTMLFormElement>('form[data-endpoint]')) {
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      void submit(form);
    });
  }
}
