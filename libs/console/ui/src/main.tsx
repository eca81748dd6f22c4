import './styles/console.css';
import { mountBacklogMoves } from './components/backlog-move-progress';
import { mountDialogHost } from './components/dialog-host';
import { mountJobProgress } from './components/job-progress';
import { mountJsonEditors } from './components/json-editor';
import { mountSelections } from './components/selection-count';
import { enhanceActionForms } from './enhance/action-forms';
import { enhanceBacklogResetForms } from './enhance/backlog-reset';
import { enhanceFilterForms } from './enhance/filters';
import { installShortcuts } from './enhance/keyboard';

/**
 * The console's pages are complete server-rendered HTML; this bundle adds what needs a browser: API actions with
 * confirmations, the JSON editor's checks, bulk-retry and backlog-move progress, backlog resets previewed first, selections and keyboard shortcuts.
 */
function start(): void {
  mountDialogHost();
  mountSelections();
  mountJsonEditors();
  mountJobProgress();
  mountBacklogMoves();
  enhanceActionForms();
  enhanceBacklogResetForms();
  enhanceFilterForms();
  installShortcuts();
  document.documentElement.dataset.consoleUi = 'ready';
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start, { once: true });
else start();
