import { api, messagesOf } from '../api';
import { askConfirm } from '../components/dialog-host';
import { clearResult, showResult } from '../components/result-message';

/** Long enough to read the result line before the page shows the new state. */
const RELOAD_DELAY_MS = 1200;

interface ResetPreview {
  skipped: number;
  redelivered: number;
  oldestSkippedAt: number | null;
  newestSkippedAt: number | null;
  oldestRedeliveredAt: number | null;
  dedupWarning: string | null;
}

const when = (ms: number | null): string => (ms === null ? '' : new Date(ms).toLocaleString());

/** `yyyy-mm-ddThh:mm:ss` in the browser's local time, what a datetime-local field holds. */
function localValue(ms: number): string {
  const date = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return date.toISOString().slice(0, 19);
}

/** What the dialog says the reset will do, from the broker's own count. */
function question(
  group: string,
  topic: string,
  at: number,
  reason: string,
  preview: ResetPreview,
): Parameters<typeof askConfirm>[0] {
  const message: string[] = [];
  if (preview.skipped > 0) {
    message.push(
      `Group ${group} will never get ${preview.skipped} message(s) of ${topic}: every message it has not consumed ` +
        `that was stored before ${when(at)}. Their handlers will not run; nothing else is changed.`,
    );
  }
  if (preview.redelivered > 0) {
    message.push(
      `Group ${group} moves back: ${preview.redelivered} message(s) of ${topic} stored since ${when(at)} are ` +
        'delivered again, and its handlers run for them again unless dedup stops them.',
    );
  }
  if (preview.dedupWarning) message.push(preview.dedupWarning);
  if (message.length === 0) message.push(`Nothing changes: ${group} is already at ${when(at)} on ${topic}.`);
  const details = [
    preview.skipped > 0 ? `Skipped: stored ${when(preview.oldestSkippedAt)} to ${when(preview.newestSkippedAt)}` : '',
    preview.redelivered > 0 ? `Delivered again: from ${when(preview.oldestRedeliveredAt)}` : '',
    `Reason: ${reason}`,
  ].filter(Boolean);
  return {
    title: preview.skipped > 0 ? `Skip ${preview.skipped} message(s)` : 'Reset offsets',
    message,
    details,
    confirmLabel: preview.skipped > 0 ? `Skip ${preview.skipped}` : 'Reset',
    danger: true,
  };
}

async function submit(form: HTMLFormElement): Promise<void> {
  clearResult();
  const group = form.dataset.group ?? '';
  const topic = form.dataset.topic ?? '';
  const atField = form.elements.namedItem('at') as HTMLInputElement | null;
  const reasonField = form.elements.namedItem('reason') as HTMLInputElement | null;
  const at = atField?.value ? new Date(atField.value).getTime() : Number.NaN;
  if (!Number.isFinite(at)) {
    showResult('Start at is required: the time from which the group should consume again.', true);
    atField?.focus();
    return;
  }
  const reason = reasonField?.value.trim() ?? '';
  if (reason === '') {
    showResult('Reason is required.', true);
    reasonField?.focus();
    return;
  }
  const query = new URLSearchParams({ group, topic, at: String(at) });
  const preview = await api<ResetPreview>('GET', `api/backlog/reset-preview?${query.toString()}`);
  if (preview.status !== 200 || !preview.data) {
    showResult(messagesOf(preview.data, preview.status).join(' '), true);
    return;
  }
  if (!(await askConfirm(question(group, topic, at, reason, preview.data)))) {
    showResult('Not reset.', true, false);
    return;
  }
  const body = { group, topic, at, reason, ...(preview.data.dedupWarning ? { confirmDedupWindow: true } : {}) };
  const answer = await api<ResetPreview>('POST', 'api/backlog/reset', body);
  if (answer.status !== 200 || !answer.data) {
    showResult(messagesOf(answer.data, answer.status).join(' '), true);
    return;
  }
  showResult(`Reset: ${answer.data.skipped} skipped, ${answer.data.redelivered} to be delivered again.`, false);
  window.setTimeout(() => window.location.reload(), RELOAD_DELAY_MS);
}

/** Reset forms of the Backlog page: a preview from the broker, a confirmation that says what it does, then the reset. */
export function enhanceBacklogResetForms(): void {
  for (const form of document.querySelectorAll<HTMLFormElement>('form[data-backlog-reset]')) {
    const atField = form.elements.namedItem('at') as HTMLInputElement | null;
    const fallback = Number(atField?.dataset.defaultEpoch);
    if (atField && atField.value === '' && Number.isFinite(fallback)) atField.value = localValue(fallback);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      void submit(form);
    });
  }
}
