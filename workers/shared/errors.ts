/**
 * One base error for every worker: a short message, structured details, an optional cause, and an HTTP status so
 * request handlers can answer with a clear 4xx instead of a stack trace.
 */
export class WorkerError extends Error {
  override name = "WorkerError";
  constructor(
    message: string,
    readonly code: string,
    readonly status = 500,
    readonly details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A usage report a node refuses to attest: the reason is in `code`, e.g. `escrow-not-open` or `over-cap`. */
export class ReportRejected extends WorkerError {
  override name = "ReportRejected";
  constructor(code: string, message: string, details: Record<string, unknown> = {}) {
    super(message, code, code === "conflicting-report" ? 409 : 422, details);
  }
}

export class BadRequest extends WorkerError {
  override name = "BadRequest";
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(message, "bad-request", 400, details);
  }
}

/** The request's signature or authorization is missing or invalid (HTTP 401). */
export class Unauthorized extends WorkerError {
  override name = "Unauthorized";
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(message, "unauthorized", 401, details);
  }
}

/** The escrow cannot pay for the request (HTTP 402), e.g. its spend cap or the renter's authorization is used up. */
export class PaymentRequired extends WorkerError {
  override name = "PaymentRequired";
  constructor(code: string, message: string, details: Record<string, unknown> = {}) {
    super(message, code, 402, details);
  }
}
