/**
 * Data the server hands to the page in `<script type="application/json" id="…">` blocks. The server escapes `<`,
 * `>` and `&` inside them, so the text can never close the element; here it is only ever parsed as JSON.
 */
export function readIsland<T>(id: string): T | null {
  const element = document.getElementById(id);
  if (!element || element.getAttribute('type') !== 'application/json') return null;
  try {
    return JSON.parse(element.textContent ?? 'null') as T;
  } catch {
    return null;
  }
}
