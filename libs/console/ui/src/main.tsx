import './styles/console.css';
import { mountDialogHost } from './components/dialog-host';
import { mountJobProgress } from './components/job-progress';
import { mountJsonEditors } from './components/json-editor';
import { mountSelections } from './components/selection-count';
import { enhanceActionForms } from './enhance/action-forms';
import { enhanceFilterForms } from './enhance/filters';
import { installShortcuts } from './enhance/keyboard';

/**
 * The console's pages are complete server-rendered HTML; this bundle adds what needs a browser: API actions with
 * confirmations, the JSON editor's checks, bulk-retry progress, selections and keyboard shortcuts.
 */
function start(): void {
  mountDialogHost();
  mountSelections();
  mountJsonEditors();
  mountJobProgress();
  enhanceActionForms();
  enhanceFilterForms();
  installShortcuts();
  document.documentElement.dataset.consoleUi = 'ready';
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start, { once: true });
else start();
