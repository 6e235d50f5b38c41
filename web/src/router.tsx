/**
 * A small hash router. No router library is installed in this repository (and none may be added here), and the app
 * needs only a handful of flat routes, so `location.hash` ("#/listing/9") is the state: it works on any static host
 * without server rewrites (web/server.ts serves index.html only at "/"), survives reloads, and back/forward work
 * through the browser's own `hashchange`.
 */
import { useEffect, useState, useSyncExternalStore, type AnchorHTMLAttributes, type ReactNode } from "react";

function subscribe(callback: () => void): () => void {
  window.addEventListener("hashchange", callback);
  return () => window.removeEventListener("hashchange", callback);
}

const getPath = () => {
  const hash = window.location.hash.replace(/^#/, "");
  return hash.startsWith("/") ? hash : `/${hash}`;
};

/** The current route path ("/", "/listing/9", ...), without the query part. */
export function usePath(): string {
  const full = useSyncExternalStore(subscribe, getPath, () => "/");
  return full.split("?")[0] || "/";
}

/** The route's query parameters ("#/account?escrow=3"). */
export function useQueryParams(): URLSearchParams {
  const full = useSyncExternalStore(subscribe, getPath, () => "/");
  return new URLSearchParams(full.split("?")[1] ?? "");
}

export function navigate(path: string): void {
  window.location.hash = path.startsWith("/") ? path : `/${path}`;
}

export function Link({ to, children, ...rest }: { to: string; children: ReactNode } & AnchorHTMLAttributes<HTMLAnchorElement>) {
  return (
    <a href={`#${to}`} {...rest}>
      {children}
    </a>
  );
}

export interface Route {
  /** "/", "/listing/:id", ... */
  pattern: string;
  render: (params: Record<string, string>) => ReactNode;
}

export function match(pattern: string, path: string): Record<string, string> | undefined {
  const p = pattern.split("/").filter(Boolean);
  const a = path.split("/").filter(Boolean);
  if (p.length !== a.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < p.length; i++) {
    if (p[i]!.startsWith(":")) params[p[i]!.slice(1)] = decodeURIComponent(a[i]!);
    else if (p[i] !== a[i]) return undefined;
  }
  return params;
}

export function Router({ routes, fallback }: { routes: Route[]; fallback: ReactNode }) {
  const path = usePath();
  for (const route of routes) {
    const params = match(route.pattern, path);
    if (params) return <>{route.render(params)}</>;
  }
  return <>{fallback}</>;
}

/** Scrolls to the top when the route changes. */
export function useScrollReset(): void {
  const path = usePath();
  const [last, setLast] = useState(path);
  useEffect(() => {
    if (path !== last) {
      window.scrollTo(0, 0);
      setLast(path);
    }
  }, [path, last]);
}
