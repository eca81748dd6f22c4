import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

/**
 * The console's browser bundle: one entry, hashed file names and a manifest the server reads to link them
 * (`<mount>/assets/<file>`). Nothing is inlined into the pages, so the console's CSP needs no exception.
 */
export default defineConfig({
  root,
  // Relative URLs between chunks: the console is mounted under a path the build cannot know.
  base: './',
  publicDir: false,
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    manifest: true,
    target: 'es2022',
    // No inline assets (data: URLs) and no preload helper script: every byte comes from a file under /assets.
    assetsInlineLimit: 0,
    modulePreload: false,
    sourcemap: false,
    rolldownOptions: { input: { console: 'src/main.tsx' } },
  },
});
