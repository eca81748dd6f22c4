import { formatMs, formatRate } from './runner';
import type { ScenarioResult } from './types';

/** One colour per scenario number (index 0 unused). */
const GROUP_COLOURS = [
  '#888888',
  '#4e79a7',
  '#f28e2b',
  '#e15759',
  '#76b7b2',
  '#59a14f',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#bab0ac',
  '#1b9e77',
];

const escape = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

interface Axis {
  min: number;
  max: number;
  ticks: number[];
  position(value: number): number;
}

/** A log10 axis over whole decades covering the values, mapped onto [x0, x1]. */
function logAxis(values: readonly number[], x0: number, x1: number): Axis {
  const positive = values.filter((value) => value > 0);
  const lo = positive.length > 0 ? Math.floor(Math.log10(Math.min(...positive))) : 0;
  let hi = positive.length > 0 ? Math.ceil(Math.log10(Math.max(...positive))) : 1;
  if (hi <= lo) hi = lo + 1;
  const ticks: number[] = [];
  for (let exp = lo; exp <= hi; exp++) ticks.push(10 ** exp);
  return {
    min: 10 ** lo,
    max: 10 ** hi,
    ticks,
    position: (value) => x0 + ((Math.log10(Math.max(value, 10 ** lo)) - lo) / (hi - lo)) * (x1 - x0),
  };
}

const tickLabel = (value: number): string =>
  value >= 1000 ? `${(value / 1000).toLocaleString('en-US')}k` : value >= 1 ? String(value) : String(value);

function frame(width: number, height: number, title: string, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escape(title)}</text>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

const LABEL_WIDTH = 300;
const ROW = 24;
const TOP = 48;

/** Horizontal bars of msg/s per scenario, log scale, coloured by scenario number. */
export function throughputChart(results: readonly ScenarioResult[], subtitle: string): string {
  const rows = results.filter((result) => result.msgsPerSec !== null);
  const width = 1000;
  const x0 = LABEL_WIDTH;
  const x1 = width - 110;
  const axis = logAxis(
    rows.map((row) => row.msgsPerSec!),
    x0,
    x1,
  );
  const height = TOP + rows.length * ROW + 50;
  const body: string[] = [`<text x="${width / 2}" y="38" text-anchor="middle" fill="#555">${escape(subtitle)}</text>`];
  for (const tick of axis.ticks) {
    const x = axis.position(tick).toFixed(1);
    body.push(`<line x1="${x}" y1="${TOP}" x2="${x}" y2="${TOP + rows.length * ROW}" stroke="#dddddd"/>`);
    body.push(
      `<text x="${x}" y="${TOP + rows.length * ROW + 16}" text-anchor="middle" fill="#555">${tickLabel(tick)}</text>`,
    );
  }
  body.push(
    `<text x="${(x0 + x1) / 2}" y="${TOP + rows.length * ROW + 36}" text-anchor="middle" fill="#333">messages per second (log scale)</text>`,
  );
  rows.forEach((row, index) => {
    const y = TOP + index * ROW;
    const end = axis.position(row.msgsPerSec!);
    body.push(`<text x="${x0 - 8}" y="${y + 16}" text-anchor="end">${escape(row.name)}</text>`);
    body.push(
      `<rect x="${x0}" y="${y + 4}" width="${Math.max(1, end - x0).toFixed(1)}" height="${ROW - 8}" fill="${GROUP_COLOURS[row.group] ?? '#999'}"><title>${escape(row.title)}</title></rect>`,
    );
    body.push(`<text x="${(end + 6).toFixed(1)}" y="${y + 16}" fill="#222">${formatRate(row.msgsPerSec)}</text>`);
  });
  return frame(width, height, 'Throughput', body);
}

/** Paired bars of p50 and p99 latency per scenario, log scale. */
export function latencyChart(results: readonly ScenarioResult[], subtitle: string): string {
  const rows = results.filter((result) => result.p50Ms !== null && result.p99Ms !== null);
  const width = 1000;
  const x0 = LABEL_WIDTH;
  const x1 = width - 110;
  const axis = logAxis(
    rows.flatMap((row) => [row.p50Ms!, row.p99Ms!]).map((value) => Math.max(value, 0.001)),
    x0,
    x1,
  );
  const rowHeight = ROW + 6;
  const height = TOP + 20 + rows.length * rowHeight + 50;
  const top = TOP + 20;
  const body: string[] = [
    `<text x="${width / 2}" y="38" text-anchor="middle" fill="#555">${escape(subtitle)}</text>`,
    `<rect x="${x0}" y="${TOP - 2}" width="12" height="10" fill="#9ecae1"/><text x="${x0 + 16}" y="${TOP + 7}">p50</text>`,
    `<rect x="${x0 + 60}" y="${TOP - 2}" width="12" height="10" fill="#08519c"/><text x="${x0 + 76}" y="${TOP + 7}">p99</text>`,
  ];
  for (const tick of axis.ticks) {
    const x = axis.position(tick).toFixed(1);
    body.push(`<line x1="${x}" y1="${top}" x2="${x}" y2="${top + rows.length * rowHeight}" stroke="#dddddd"/>`);
    body.push(
      `<text x="${x}" y="${top + rows.length * rowHeight + 16}" text-anchor="middle" fill="#555">${tickLabel(tick)}</text>`,
    );
  }
  body.push(
    `<text x="${(x0 + x1) / 2}" y="${top + rows.length * rowHeight + 36}" text-anchor="middle" fill="#333">milliseconds (log scale)</text>`,
  );
  rows.forEach((row, index) => {
    const y = top + index * rowHeight;
    const p50 = axis.position(Math.max(row.p50Ms!, axis.min));
    const p99 = axis.position(Math.max(row.p99Ms!, axis.min));
    body.push(`<text x="${x0 - 8}" y="${y + 17}" text-anchor="end">${escape(row.name)}</text>`);
    body.push(
      `<rect x="${x0}" y="${y + 3}" width="${Math.max(1, p50 - x0).toFixed(1)}" height="10" fill="#9ecae1"><title>p50 ${formatMs(row.p50Ms)} ms: ${escape(row.latencyOf)}</title></rect>`,
    );
    body.push(
      `<rect x="${x0}" y="${y + 14}" width="${Math.max(1, p99 - x0).toFixed(1)}" height="10" fill="#08519c"><title>p99 ${formatMs(row.p99Ms)} ms: ${escape(row.latencyOf)}</title></rect>`,
    );
    body.push(
      `<text x="${(Math.max(p50, p99) + 6).toFixed(1)}" y="${y + 17}" fill="#222">${formatMs(row.p50Ms)} / ${formatMs(row.p99Ms)} ms</text>`,
    );
  });
  return frame(width, height, 'Latency percentiles', body);
}
