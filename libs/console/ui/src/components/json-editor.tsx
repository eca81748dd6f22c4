import { render } from 'preact';
import { useEffect, useLayoutEffect, useState } from 'preact/hooks';
import { checkJson, type JsonCheck } from '../json-check';

/** The event an action form sends when the server refuses its JSON, with the server's sentences. */
export const SERVER_ERRORS_EVENT = 'console:server-errors';

function JsonEditorStatus({ textarea, form }: { textarea: HTMLTextAreaElement; form: HTMLFormElement }) {
  const [check, setCheck] = useState<JsonCheck>(() => checkJson(textarea.value));
  const [serverErrors, setServerErrors] = useState<string[]>([]);

  useEffect(() => {
    const onInput = () => {
      setCheck(checkJson(textarea.value));
      setServerErrors([]);
    };
    const onServerErrors = (event: Event) => setServerErrors((event as CustomEvent<string[]>).detail);
    textarea.addEventListener('input', onInput);
    form.addEventListener(SERVER_ERRORS_EVENT, onServerErrors);
    return () => {
      textarea.removeEventListener('input', onInput);
      form.removeEventListener(SERVER_ERRORS_EVENT, onServerErrors);
    };
  }, [textarea, form]);

  // Before paint, so the field's state and the button never disagree with the message shown.
  useLayoutEffect(() => {
    const invalid = !check.ok || serverErrors.length > 0;
    textarea.setAttribute('aria-invalid', String(invalid));
    for (const button of form.querySelectorAll<HTMLButtonElement>('button[type="submit"]')) {
      button.disabled = !check.ok;
    }
  }, [check, serverErrors, textarea, form]);

  return (
    <>
      <p
        id="json-status"
        class={`json-status ${check.ok ? 'ok' : 'error'}`}
        data-testid="json-status"
        aria-live="polite"
      >
        {check.message}
      </p>
      {serverErrors.length > 0 ? (
        <ul class="server-errors" role="alert" data-testid="json-server-errors">
          {serverErrors.map((line, index) => (
            <li key={index}>{line}</li>
          ))}
        </ul>
      ) : null}
    </>
  );
}

/**
 * Adds a live syntax check under each JSON textarea (`data-json`), and shows there what the server's DTO or schema
 * check said about the last attempt. The form cannot be sent while the text does not parse.
 */
export function mountJsonEditors(): void {
  for (const textarea of document.querySelectorAll<HTMLTextAreaElement>('textarea[data-json]')) {
    const form = textarea.form;
    if (!form) continue;
    const host = document.createElement('div');
    host.className = 'json-editor-status';
    textarea.insertAdjacentElement('afterend', host);
    const describedBy = textarea.getAttribute('aria-describedby');
    textarea.setAttribute('aria-describedby', describedBy ? `${describedBy} json-status` : 'json-status');
    render(<JsonEditorStatus textarea={textarea} form={form} />, host);
  }
}
