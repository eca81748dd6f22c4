/**
 * Filter forms are plain GET forms, so the URL holds every filter, the sort and the page. Empty fields are left out
 * of it, which keeps the address short and readable.
 */
export function enhanceFilterForms(): void {
  for (const form of document.querySelectorAll<HTMLFormElement>('form.filters')) {
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const params = new URLSearchParams();
      for (const element of form.elements) {
        if (
          !(element instanceof HTMLInputElement || element instanceof HTMLSelectElement) ||
          !element.name ||
          element.disabled ||
          element.value === ''
        ) {
          continue;
        }
        params.append(element.name, element.value);
      }
      const query = params.toString();
      window.location.assign(`${form.getAttribute('action') ?? ''}${query ? `?${query}` : ''}`);
    });
  }
}

/** The first field of the page's filter form, for the `/` shortcut. */
export function firstFilterField(): HTMLElement | null {
  return document.querySelector<HTMLElement>(
    'form.filters input:not([type="hidden"]):not(:disabled), form.filters select:not(:disabled)',
  );
}
