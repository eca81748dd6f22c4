import { html, jsonIsland, type SafeHtml } from '../pages/html';
import type { RetryJobView } from './retry-job.service';

/**
 * Bulk retries with progress. The front end follows running ones through the JSON API (their starting state is in
 * the `jobs-data` island) and gives operators a Cancel button; interrupted ones (their console stopped) say how
 * many letters were not sent and give operators Resume and Cancel. The markup here is the state at render time.
 */
export function jobsSection(base: string, jobs: RetryJobView[], operator: boolean): SafeHtml {
  return html`<section class="jobs" aria-label="Bulk retries" data-jobs data-testid="jobs">
    ${jobs.length > 0 ? jsonIsland('jobs-data', jobs) : ''}
    ${jobs.map(
      (job) =>
        html`<div
          class="job"
          data-job-id="${job.id}"
          data-job-state="${job.state}"
          data-can-cancel="${operator ? 'true' : 'false'}"
          data-testid="job"
        >
          <p>
            <strong>Bulk retry</strong> of ${job.scope} by ${job.createdBy} at ${job.ratePerSec} msg/s:
            <span data-job-text data-testid="job-text"
              >${job.state}, ${job.resent} resent, ${job.skipped} skipped, ${job.failed} failed of ${job.total}</span
            >
          </p>
          <progress
            max="${job.total}"
            value="${job.total - job.remaining}"
            data-job-progress
            data-testid="job-progress"
          >
            ${job.total - job.remaining} of ${job.total}
          </progress>
          ${job.lastError ? html`<p class="error">${job.lastError}</p>` : ''}
          ${
            job.state === 'interrupted'
              ? html`<p data-testid="job-interrupted">
                  Interrupted: the console stopped while it ran. ${job.remaining} not sent yet.
                </p>`
              : ''
          }
          ${
            operator && job.state === 'interrupted'
              ? html`<form
                    class="inline"
                    data-endpoint="api/jobs/${job.id}/resume"
                    data-reload
                    data-confirm="Resume this bulk retry? It sends the ${job.remaining} letters not sent yet at ${job.ratePerSec} msg/s; letters no longer dead are skipped."
                    data-confirm-title="Resume bulk retry"
                    data-confirm-label="Resume"
                  >
                    <button type="submit" data-testid="job-resume">Resume</button>
                  </form>
                  <form
                    class="inline"
                    data-endpoint="api/jobs/${job.id}/cancel"
                    data-reload
                    data-confirm="Close this bulk retry for good? The ${job.remaining} letters not sent yet stay dead."
                    data-confirm-title="Cancel bulk retry"
                    data-confirm-label="Cancel it"
                    data-danger
                  >
                    <button type="submit" data-testid="job-cancel">Cancel</button>
                  </form>`
              : ''
          }
          ${
            operator && job.state === 'running'
              ? html`<form class="inline" data-endpoint="api/jobs/${job.id}/cancel" data-reload>
                  <button type="submit" data-testid="job-cancel">Cancel</button>
                </form>`
              : ''
          }
        </div>`,
    )}
  </section>`;
}
