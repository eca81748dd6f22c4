import { render } from 'preact';

/** The page's status line (`[data-result]`): what the last action did, or why it failed. */
export function showResult(text: string, isError: boolean): void {
  const target = document.querySelector<HTMLElement>('[data-result]');
  if (!target) return;
  target.classList.toggle('error', isError);
  target.classList.toggle('ok', !isError);
  render(<>{text}</>, target);
  if (isError) target.focus();
}
