import { dialogOpen, showKeyboardHelp } from '../components/dialog-host';
import { firstFilterField } from './filters';

function typingIn(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable) return true;
  if (target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) return true;
  return target instanceof HTMLInputElement && !['checkbox', 'radio', 'button', 'submit'].includes(target.type);
}

/** `/` jumps to the filter form and `?` opens the keyboard help, unless the user is typing in a field. */
export function installShortcuts(): void {
  document.addEventListener('keydown', (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (typingIn(event.target) || dialogOpen()) return;
    if (event.key === '/') {
      const field = firstFilterField();
      if (!field) return;
      event.preventDefault();
      field.focus();
      if (field instanceof HTMLInputElement) field.select();
    } else if (event.key === '?') {
      event.preventDefault();
      showKeyboardHelp();
    }
  });
  for (const button of document.querySelectorAll<HTMLElement>('[data-keyboard-help]')) {
    button.hidden = false;
    button.addEventListener('click', () => showKeyboardHelp());
  }
}
