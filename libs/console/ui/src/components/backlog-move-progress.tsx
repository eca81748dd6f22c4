import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, messagesOf } from '../api';
import { readIsland } from '../islands';

interface MoveView {
  id: string;
  group: string;
  fromTopic: string;
  toTopic: string;
  startedBy: string;
  state: 'running' | 'done' | 'failed' | string;
  total: number;
  moved: number;
  error: string | null;
}

const POLL_MS = 1000;

function MoveProgress({ initial }: { initial: MoveView }) {
  const [move, setMove] = useState(initial);
  const [problem, setProblem] = useState<string | null>(null);

  useEffect(() => {
    if (move.state !== 'running') return;
    const timer = window.setTimeout(async () => {
      const answer = await api<MoveView>('GET', `api/backlog/moves/${encodeURIComponent(move.id)}`);
      if (answer.status === 200 && answer.data) {
        setMove(answer.data);
        setProblem(null);
      } else {
        setProblem(messagesOf(answer.data, answer.status).join(' '));
        setMove({ ...move });
      }
    }, POLL_MS);
    return () => window.clearTimeout(timer);
  }, [move]);

  const total = Math.max(move.total, move.moved);
  return (
    <>
      <p>
        <strong>Backlog move</strong> of {move.group}, {move.fromTopic} → {move.toTopic}, by {move.startedBy}:{' '}
        <span data-testid="backlog-move-text" aria-live="polite">
          {move.state}, {move.moved} moved{total > 0 ? ` of ${total}` : ''}
        </span>
      </p>
      <progress max={total || 1} value={move.moved} aria-label={`Backlog move ${move.id}`} />
      {move.error ? <p class="error">{move.error}</p> : null}
      {problem ? (
        <p class="error" role="alert">
          {problem}
        </p>
      ) : null}
    </>
  );
}

/** Backlog moves listed on the Backlog page follow their progress from the JSON API while they run. */
export function mountBacklogMoves(): void {
  const moves = readIsland<MoveView[]>('backlog-moves-data') ?? [];
  for (const element of document.querySelectorAll<HTMLElement>('[data-backlog-move]')) {
    const move = moves.find((candidate) => candidate.id === element.dataset.backlogMove);
    if (!move || move.state !== 'running') continue;
    element.replaceChildren();
    render(<MoveProgress initial={move} />, element);
  }
}
