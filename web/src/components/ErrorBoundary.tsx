import { Component, type ReactNode } from "react";
import { explain } from "../lib/errors";

/** A page that throws while rendering shows a sentence (and a retry), never a blank screen or a stack trace. */
export class ErrorBoundary extends Component<{ children: ReactNode }, { error?: unknown }> {
  override state: { error?: unknown } = {};

  static getDerivedStateFromError(error: unknown) {
    return { error };
  }

  override render() {
    if (this.state.error !== undefined) {
      return (
        <div className="error" role="alert">
          This page could not be shown: {explain(this.state.error)}{" "}
          <button type="button" className="link" onClick={() => this.setState({ error: undefined })}>
            Try again
          </button>
        </div>
      );
    }
    return this.props.children;
  }
}

export default ErrorBoundary;
