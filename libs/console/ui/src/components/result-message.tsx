import { render } from 'preact';

/**
 * The page's status line (`[data-result]`): what the last action did, or why it failed. A failure takes focus so a
 * screen reader and the keyboard land on it, unless the user chose it (cancelled a confirmation).
 */
export function showResult(text: string, isError: boolean, takeFocus = isError): void {
  const target = document.querySelector<HTMLElement>('[data-result]');
  if (!target) return;
  target.classList.toggle('error', isError);
  target.classList.toggle('ok', !isError);
  render(<>{text}</>, target);
  if (takeFocus) target.focus();
}

/** Empties the status line, so an earlier action's outcome is not read as this one's. */
export function clearResult(): void {
  const target = document.querySelector<HTMLElement>('[data-result]');
  if (!target) return;
  target.classList.remove('error', 'ok');
  render(null, target);
}
