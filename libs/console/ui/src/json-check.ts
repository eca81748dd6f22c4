export interface JsonCheck {
  ok: boolean;
  message: string;
}

/** Parses as the server will; a failure says where, in lines and columns, as an editor would. */
export function checkJson(text: string): JsonCheck {
  if (text.trim() === '') return { ok: false, message: 'The payload is empty; a JSON value is needed.' };
  try {
    JSON.parse(text);
    return { ok: true, message: 'Valid JSON.' };
  } catch (error) {
    const raw = (error as Error).message;
    const position = /at position (\d+)/.exec(raw);
    let where = '';
    if (position && !/\(line \d+ column \d+\)/.test(raw)) {
      const before = text.slice(0, Number(position[1]));
      const lines = before.split('\n');
      where = ` (line ${lines.length}, column ${(lines.at(-1)?.length ?? 0) + 1})`;
    }
    return { ok: false, message: `Not valid JSON: ${raw}${where}` };
  }
}
