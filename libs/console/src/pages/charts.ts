import type { Series } from '../overview/metrics-sampler.service';
import { formatTime, html, type SafeHtml } from './html';

const WIDTH = 640;
const HEIGHT = 160;
const PAD_LEFT = 48;
const PAD_BOTTOM = 20;
const PALETTE_SIZE = 8;
/** Lines drawn per chart; the rest are listed in the legend without a line, so a chart stays readable. */
const MAX_LINES = 8;

/**
 * A line chart as inline SVG, drawn on the server: no script and no inline style (colours come from classes in
 * the stylesheet), so it passes the console's CSP. Series names are text nodes, escaped like everything else.
 */
export function lineChart(title: string, series: Series[], from: number, to: number, unit: string): SafeHtml {
  if (series.length === 0 || series.every((entry) => entry.points.length === 0)) {
    return html`<figure class="chart">
      <figcaption>${title}</figcaption>
      <p class="empty">No samples in this range yet.</p>
    </figure>`;
  }
  const max = Math.max(1, ...series.flatMap((entry) => entry.points.map((point) => point.value)));
  const span = Math.max(1, to - from);
  const x = (at: number): number => PAD_LEFT + ((at - from) / span) * (WIDTH - PAD_LEFT - 4);
  const y = (value: number): number => 4 + (1 - value / max) * (HEIGHT - PAD_BOTTOM - 8);
  const drawn = [...series].sort((a, b) => peak(b) - peak(a)).slice(0, MAX_LINES);
  const lines = drawn.map((entry, index) => {
    const points = entry.points.map((point) => `${x(point.at).toFixed(1)},${y(point.value).toFixed(1)}`).join(' ');
    return html`<polyline class="line s${index % PALETTE_SIZE}" points="${points}"
      ><title>${entry.name}</title></polyline
    >`;
  });
  const legend = [...series]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((entry) => {
      const index = drawn.indexOf(entry);
      const last = entry.points.at(-1)?.value ?? 0;
      return html`<li>
        <span class="swatch${index >= 0 ? ` s${index % PALETTE_SIZE}` : ' none'}"></span>${entry.name}:
        <strong>${last}</strong> ${unit}
      </li>`;
    });
  return html`<figure class="chart">
    <figcaption>${title}</figcaption>
    <svg
      viewBox="0 0 ${WIDTH} ${HEIGHT}"
      role="img"
      aria-label="${title}, from ${formatTime(from)} to ${formatTime(to)}, peak ${max} ${unit}"
    >
      <line class="axis" x1="${PAD_LEFT}" y1="${HEIGHT - PAD_BOTTOM}" x2="${WIDTH}" y2="${HEIGHT - PAD_BOTTOM}"></line>
      <line class="axis" x1="${PAD_LEFT}" y1="0" x2="${PAD_LEFT}" y2="${HEIGHT - PAD_BOTTOM}"></line>
      <text class="tick" x="${PAD_LEFT - 4}" y="12" text-anchor="end">${max}</text>
      <text class="tick" x="${PAD_LEFT - 4}" y="${HEIGHT - PAD_BOTTOM}" text-anchor="end">0</text>
      <text class="tick" x="${PAD_LEFT}" y="${HEIGHT - 4}">${formatTime(from)}</text>
      <text class="tick" x="${WIDTH}" y="${HEIGHT - 4}" text-anchor="end">${formatTime(to)}</text>
      ${lines}
    </svg>
    <ul class="legend">
      ${legend}
    </ul>
  </figure>`;
}

function peak(series: Series): number {
  return Math.max(0, ...series.points.map((point) => point.value));
}
