import type { ReactNode } from "react";
import { explain } from "../lib/errors";

/** A readable error (explain()ed unless a string is given), with an optional retry. */
export function ErrorMessage({ error, retry, children }: { error?: unknown; retry?: () => void; children?: ReactNode }) {
  if (!error && !children) return null;
  const text = typeof error === "string" ? error : error ? explain(error) : undefined;
  return (
    <div className="error" role="alert">
      {text && <span>{text}</span>}
      {children}
      {retry && (
        <button type="button" className="link" onClick={retry}>
          Try again
        </button>
      )}
    </div>
  );
}

export default ErrorMessage;
