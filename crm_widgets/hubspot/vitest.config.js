import { defineConfig } from "vitest/config";

// Vitest for the Sales Coach app card: JSX through esbuild, a DOM from jsdom, and one React copy.
export default defineConfig({
  esbuild: { jsx: "automatic" },
  resolve: { dedupe: ["react", "react-dom"] },
  test: {
    environment: "jsdom",
    include: ["src/**/__tests__/**/*.test.{js,jsx}"],
    restoreMocks: true,
  },
});
