import { currentPath, page } from './page';

export interface ApiAnswer<T = unknown> {
  status: number;
  data: T | null;
}

/** Problem answers of the console API: Nest's `{ statusCode, message, error }`, sometimes with a `code`. */
export interface ApiProblem {
  statusCode?: number;
  message?: string | string[];
  code?: string;
  count?: number;
  examples?: Array<{ id: number; group: string; ageMs: number; dedupWindowMs: number | null }>;
  validation?: string;
}

/** Calls the console's JSON API with the session cookie and CSRF token; a lost session goes to the login page. */
export async function api<T = unknown>(method: string, path: string, body?: unknown): Promise<ApiAnswer<T>> {
  const headers: Record<string, string> = { Accept: 'application/json', 'x-csrf-token': page.csrf };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(`${page.base}/${path}`, {
    method,
    credentials: 'same-origin',
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) {
    window.location.assign(`${page.base}/login?next=${encodeURIComponent(currentPath())}`);
    return new Promise(() => undefined);
  }
  let data: T | null = null;
  try {
    data = (await response.json()) as T;
  } catch {
    data = null;
  }
  return { status: response.status, data };
}

/** The sentences of a problem answer; Nest's validation gives a list, other errors one message. */
export function messagesOf(data: unknown, status: number): string[] {
  if (data && typeof data === 'object') {
    const message = (data as ApiProblem).message;
    if (Array.isArray(message) && message.length > 0) return message.map(String);
    if (typeof message === 'string' && message !== '') return [message];
  }
  return [`The request failed (HTTP ${status}).`];
}
