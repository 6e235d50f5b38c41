/**
 * The browser app: root web/, output web/dist (served by web/server.ts). Routes are split with React.lazy so the
 * first page (the market) loads only React, TanStack Query, wagmi's core and the market itself.
 *
 * The app reuses the repository's own TypeScript for the renter's signing and checking (workers/renter/client.ts,
 * workers/shared/{authorization,receipt,usage-report,recover,sse}.ts). Two of its modules are Node-only and are
 * swapped for browser modules with the same exports (plugin below, by resolved path so no other file is touched):
 *   workers/shared/native-crypto.ts -> web/src/shims/native-crypto.ts (viem keccak + noble secp256k1; Buffer shim)
 *   workers/shared/http-client.ts   -> web/src/shims/http-client.ts   (fetch + ReadableStream)
 * `@noble/curves/secp256k1` resolves to viem's own copy (the root node_modules holds an older one), so it is
 * bundled once.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig, type Plugin } from "vite";

const web = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(web, "..");

const SHIMS: Record<string, string> = {
  [path.join(repo, "workers/shared/native-crypto.ts")]: path.join(web, "src/shims/native-crypto.ts"),
  [path.join(repo, "workers/shared/http-client.ts")]: path.join(web, "src/shims/http-client.ts"),
};

function browserShims(): Plugin {
  return {
    name: "prsm-browser-shims",
    enforce: "pre",
    async resolveId(source, importer, options) {
      if (!/(native-crypto|http-client)(\.ts)?$/.test(source) || !importer) return null;
      const resolved = await this.resolve(source, importer, { ...options, skipSelf: true });
      return resolved && SHIMS[resolved.id] ? SHIMS[resolved.id] : null;
    },
  };
}

export default defineConfig({
  root: web,
  base: "/",
  plugins: [browserShims(), react()],
  resolve: {
    alias: [{ find: /^@noble\/curves\/secp256k1$/, replacement: path.join(repo, "node_modules/viem/node_modules/@noble/curves/esm/secp256k1.js") }],
  },
  build: {
    outDir: path.join(web, "dist"),
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    chunkSizeWarningLimit: 800,
  },
  server: { host: "127.0.0.1", fs: { allow: [repo] } },
});
