// Two pages: the dashboard (index.html, no framework) and the GraphQL playground
// (playground.html, GraphiQL with React), each with its own bundle.
import { defineConfig } from 'vite';

export default defineConfig({
  build: {
    // GraphiQL's own bundle (the playground page only) is larger than Vite's default warning size;
    // the dashboard's budget is checked by src/build.test.ts.
    chunkSizeWarningLimit: 2000,
    rollupOptions: {
      input: { main: 'index.html', playground: 'playground.html' },
      // GraphiQL's Radix UI modules start with "use client", meaningless outside React Server Components.
      onwarn(warning, warn) {
        if (warning.code !== 'MODULE_LEVEL_DIRECTIVE') warn(warning);
      },
    },
  },
});
