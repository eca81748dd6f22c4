import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, messagesOf } from '../api';
import { readIsland } from '../islands';

export interface JobView {
  id: string;
  /** `interrupted`: its console stopped while it ran; the page offers Resume to operators. */
  state: 'running' | 'interrupted' | 'done' | 'cancelled' | 'failed' | string;
  scope: string;
  createdBy: string;
  ratePerSec: number;
  total: number;
  resent: number;
  skipped: number;
  failed: number;
  remaining: number;
  lastError: string | null;
}

const POLL_MS = 1000;

function JobProgress({ initial, canCancel }: { initial: JobView; canCancel: boolean }) {
  const [job, setJob] = useState(initial);
  const [problem, setProblem] = useState<string | null>(null);
  const [cancelling, setCancelling] = useState(false);

  useEffect(() => {
    if (job.state !== 'running') return;
    const timer = window.setTimeout(async () => {
      const answer = await api<JobView>('GET', `api/jobs/${encodeURIComponent(job.id)}`);
      if (answer.status === 200 && answer.data) {
        setJob(answer.data);
        setProblem(null);
      } else {
        setProblem(messagesOf(answer.data, answer.status).join(' '));
        setJob({ ...job });
      }
    }, POLL_MS);
    return () => window.clearTimeout(timer);
  }, [job]);

  const cancel = async () => {
    setCancelling(true);
    const answer = await api<JobView>('POST', `api/jobs/${encodeURIComponent(job.id)}/cancel`, {});
    setCancelling(false);
    if (answer.status === 200 && answer.data) setJob(answer.data);
    else setProblem(messagesOf(answer.data, answer.status).join(' '));
  };

  const done = job.total - job.remaining;
  return (
    <>
      <p>
        <strong>Bulk retry</strong> of {job.scope} by {job.createdBy} at {job.ratePerSec} msg/s:{' '}
        <span data-testid="job-text" aria-live="polite">
          {job.state}, {job.resent} resent, {job.skipped} skipped, {job.failed} failed of {job.total}
        </span>
      </p>
      <progress max={job.total} value={done} data-testid="job-progress" aria-label={`Bulk retry ${job.id}`}>
        {done} of {job.total}
      </progress>
      {job.lastError ? <p class="error">{job.lastError}</p> : null}
      {problem ? (
        <p class="error" role="alert">
          {problem}
        </p>
      ) : null}
      {/* The console restarted while this page followed the job: the reloaded page offers Resume. */}
      {job.state === 'interrupted' ? (
        <p data-testid="job-interrupted">Interrupted: {job.remaining} not sent yet. Reload the page to resume it.</p>
      ) : null}
      {/* The list on this page was read while the job ran: offer a fresh copy rather than reload under the user. */}
      {initial.state === 'running' && ['done', 'cancelled', 'failed'].includes(job.state) ? (
        <p data-testid="job-finished">
          The job has ended; the list below predates it. <a href={window.location.href}>Reload the list</a>
        </p>
      ) : null}
      {canCancel && job.state === 'running' ? (
        <button type="button" data-testid="job-cancel" disabled={cancelling} onClick={cancel}>
          Cancel
        </button>
      ) : null}
    </>
  );
}

/** Running bulk retries follow their progress from the JSON API, with a Cancel button for operators. */
export function mountJobProgress(): void {
  const jobs = readIsland<JobView[]>('jobs-data') ?? [];
  for (const element of document.querySelectorAll<HTMLElement>('[data-job-id]')) {
    const job = jobs.find((candidate) => candidate.id === element.dataset.jobId);
    if (!job || job.state !== 'running') continue;
    element.replaceChildren();
    render(<JobProgress initial={job} canCancel={element.dataset.canCancel === 'true'} />, element);
  }
}
