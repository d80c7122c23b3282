/**
 * The one error type that crosses layers: an HTTP status plus a message in LXD's words.
 * The API turns it into LXD's error envelope; the client rebuilds it from one.
 */
export class StatusError extends Error {
  readonly status: number;
  constructor(status: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StatusError";
    this.status = status;
  }
}

/** 400: the request is malformed or a value is invalid. */
export function badRequest(message: string): StatusError {
  return new StatusError(400, message);
}

/** 403: the caller is not allowed to do this. */
export function forbidden(message = "not authorized"): StatusError {
  return new StatusError(403, message);
}

/** 404: the named object does not exist. */
export function notFound(message = "not found"): StatusError {
  return new StatusError(404, message);
}

/** 409: the object already exists or is in a conflicting state. */
export function conflict(message: string): StatusError {
  return new StatusError(409, message);
}

/** 412: an If-Match precondition failed. */
export function preconditionFailed(message = "ETag doesn't match"): StatusError {
  return new StatusError(412, message);
}

/** 500: an internal failure; the message should still name the cause. */
export function internalError(message: string): StatusError {
  return new StatusError(500, message);
}

/** 503: the service cannot answer now (no leader, shutting down). */
export function unavailable(message: string): StatusError {
  return new StatusError(503, message);
}

/** Returns the text of any thrown value. */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

/** Returns the HTTP status of a thrown value: its own for a StatusError, 500 otherwise. */
export function errorStatus(e: unknown): number {
  return e instanceof StatusError ? e.status : 500;
}
