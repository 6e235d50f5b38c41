/**
 * The lifecycle every worker process shares: a startup failure prints one line naming what failed and exits 1;
 * SIGINT/SIGTERM stop the worker's own timers, close its HTTP server and exit 0 (or after 2 s if connections linger).
 */
import type http from "node:http";

export function runMain(what: string, main: () => Promise<void>): void {
  main().catch((error: Error) => {
    process.stderr.write(`${what} failed to start: ${error.message}\n`);
    process.exit(1);
  });
}

export function stopOnSignals(server: http.Server, beforeClose: () => void = () => undefined): void {
  const shutdown = () => {
    beforeClose();
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2_000).unref();
  };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);
}
