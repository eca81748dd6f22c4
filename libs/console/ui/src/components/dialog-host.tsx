import { render, type ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { KeyboardHelp } from './keyboard-help';

export interface ConfirmRequest {
  title: string;
  /** Sentences, each its own paragraph. */
  message: string[];
  /** Extra lines under the message, e.g. the messages concerned. */
  details?: string[];
  confirmLabel: string;
  danger?: boolean;
}

type Request = { kind: 'confirm'; options: ConfirmRequest; settle: (yes: boolean) => void } | { kind: 'help' };

let open: ((request: Request) => void) | null = null;

/**
 * One modal `<dialog>` for the whole page. `showModal` keeps focus inside it, Escape closes it, and the element
 * that had focus before gets it back afterwards.
 */
function DialogHost() {
  const [request, setRequest] = useState<Request | null>(null);
  const dialog = useRef<HTMLDialogElement>(null);
  const returnFocus = useRef<HTMLElement | null>(null);
  const answered = useRef(false);

  useEffect(() => {
    open = (next) => {
      returnFocus.current = document.activeElement instanceof HTMLElement ? document.activeElement : null;
      answered.current = false;
      setRequest(next);
    };
    return () => {
      open = null;
    };
  }, []);

  useEffect(() => {
    const element = dialog.current;
    if (request && element && !element.open) element.showModal();
  }, [request]);

  const close = (yes: boolean) => {
    if (request?.kind === 'confirm' && !answered.current) {
      answered.current = true;
      request.settle(yes);
    }
    if (dialog.current?.open) dialog.current.close();
  };

  const onClose = () => {
    if (request?.kind === 'confirm' && !answered.current) {
      answered.current = true;
      request.settle(false);
    }
    setRequest(null);
    const target = returnFocus.current;
    returnFocus.current = null;
    if (target?.isConnected) target.focus();
  };

  let body: ComponentChildren = null;
  let label = '';
  if (request?.kind === 'confirm') {
    const { options } = request;
    label = options.title;
    body = (
      <>
        <h2 id="dialog-title">{options.title}</h2>
        {options.message.map((sentence, index) => (
          <p key={index}>{sentence}</p>
        ))}
        {options.details && options.details.length > 0 ? (
          <ul class="examples">
            {options.details.map((line, index) => (
              <li key={index}>{line}</li>
            ))}
          </ul>
        ) : null}
        <div class="buttons">
          <button type="button" class="secondary" data-testid="dialog-cancel" onClick={() => close(false)}>
            Cancel
          </button>
          <button
            type="button"
            class={options.danger ? 'danger' : undefined}
            data-testid="dialog-confirm"
            onClick={() => close(true)}
          >
            {options.confirmLabel}
          </button>
        </div>
      </>
    );
  } else if (request?.kind === 'help') {
    label = 'Keyboard shortcuts';
    body = <KeyboardHelp onClose={() => close(false)} />;
  }

  return (
    <dialog
      ref={dialog}
      aria-labelledby={request ? 'dialog-title' : undefined}
      aria-label={request ? undefined : label || undefined}
      data-testid={request?.kind === 'help' ? 'keyboard-help' : 'confirm-dialog'}
      onClose={onClose}
    >
      {body}
    </dialog>
  );
}

export function mountDialogHost(): void {
  const root = document.createElement('div');
  root.id = 'dialog-root';
  document.body.appendChild(root);
  render(<DialogHost />, root);
}

/** Asks the operator; resolves false on Cancel or Escape. Falls back to the browser's own dialog if none is mounted. */
export function askConfirm(options: ConfirmRequest): Promise<boolean> {
  if (!open) return Promise.resolve(window.confirm([options.title, ...options.message].join('\n\n')));
  const show = open;
  return new Promise((resolve) => show({ kind: 'confirm', options, settle: resolve }));
}

export function showKeyboardHelp(): void {
  open?.({ kind: 'help' });
}

export function dialogOpen(): boolean {
  return document.querySelector('#dialog-root dialog[open]') !== null;
}
