/** What the server tells every page through `<meta>` tags: where the console is mounted and the CSRF token. */
function meta(name: string): string {
  return document.querySelector(`meta[name="${name}"]`)?.getAttribute('content') ?? '';
}

export const page = {
  get base(): string {
    return meta('console-base');
  },
  get csrf(): string {
    return meta('csrf-token');
  },
};

/** The page's own URL, path and query, for coming back to it (the login redirect, "back to the list"). */
export function currentPath(): string {
  return window.location.pathname + window.location.search;
}
