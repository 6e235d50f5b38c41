import pino from "pino";

/** Structured JSON logs (pino) on stdout; LOG_LEVEL picks the level (default info). */
export function createLogger(name: string, bindings: Record<string, unknown> = {}) {
  return pino({ name, level: process.env.LOG_LEVEL ?? "info", base: { pid: process.pid, ...bindings } });
}

export type Logger = ReturnType<typeof createLogger>;
