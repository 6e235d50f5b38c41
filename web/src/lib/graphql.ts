/**
 * The PRSM GraphQL API (api/schema.graphql) from the browser: `gql()` for one request, `useGql()` for a cached,
 * refreshable query (TanStack Query) and `subscribe()` for graphql-yoga's SSE subscriptions. Every failure is an
 * `ApiError` with a code a page can act on (errors.ts turns it into a sentence):
 *   API_DOWN        the request did not reach the API (network error, proxy 502/503/504 without a GraphQL answer)
 *   RATE_LIMITED    HTTP 429 (the API's RATE_LIMITED or TOO_MANY_CONCURRENT_REQUESTS)
 *   <extension>     the GraphQL error's `extensions.code` (QUERY_TOO_EXPENSIVE, QUERY_TIMEOUT, SERVER_BUSY, ...)
 *   GRAPHQL_ERROR   a GraphQL error without a code
 */
import { useQuery, type UseQueryOptions } from "@tanstack/react-query";

export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    message: string,
    readonly code: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

function apiUrl(): string {
  return (globalThis as { __PRSM_API_URL__?: string }).__PRSM_API_URL__ ?? "/graphql";
}

/** Where gql() and subscribe() send requests (main.tsx sets it from config.json's apiUrl). */
export function setApiUrl(url: string): void {
  (globalThis as { __PRSM_API_URL__?: string }).__PRSM_API_URL__ = url;
}

interface GraphQLResponse<T> {
  data?: T | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

export async function gql<T>(query: string, variables?: Record<string, unknown>, signal?: AbortSignal): Promise<T> {
  let res: Response;
  try {
    res = await fetch(apiUrl(), {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/graphql-response+json, application/json" },
      body: JSON.stringify({ query, variables: variables ?? {} }),
      signal,
    });
  } catch (error) {
    if ((error as Error)?.name === "AbortError") throw error;
    throw new ApiError("The PRSM API is not reachable.", "API_DOWN");
  }
  let body: GraphQLResponse<T> | undefined;
  try {
    body = (await res.json()) as GraphQLResponse<T>;
  } catch {
    body = undefined;
  }
  const first = body?.errors?.[0];
  if (res.status === 429) throw new ApiError(first?.message ?? "Too many requests.", "RATE_LIMITED", 429);
  if (!body || (!first && body.data == null)) {
    if (res.status >= 500 || res.status === 0) throw new ApiError("The PRSM API is not reachable.", "API_DOWN", res.status);
    throw new ApiError(`The API answered ${res.status} without data.`, "GRAPHQL_ERROR", res.status);
  }
  if (first) throw new ApiError(first.message, first.extensions?.code ?? "GRAPHQL_ERROR", res.status);
  return body.data as T;
}

/** A query through TanStack Query: `key` names it (the variables are added to the key). */
export function useGql<T>(
  key: string | readonly unknown[],
  query: string,
  variables?: Record<string, unknown>,
  options?: Omit<UseQueryOptions<T, Error, T, readonly unknown[]>, "queryKey" | "queryFn">,
) {
  const base = typeof key === "string" ? [key] : key;
  return useQuery<T, Error, T, readonly unknown[]>({
    queryKey: [...base, variables ?? {}],
    queryFn: ({ signal }) => gql<T>(query, variables, signal),
    retry: (count, error) => count < 2 && error instanceof ApiError && error.code === "API_DOWN",
    ...options,
  });
}

/**
 * A subscription over Server-Sent Events (graphql-yoga: GET /graphql?query=... with Accept: text/event-stream,
 * which EventSource sends): `onData` gets each result's `data`; `onError` a failed result or a lost connection
 * (EventSource reconnects by itself). Returns the function that ends it.
 */
export function subscribe<T>(query: string, variables: Record<string, unknown>, onData: (data: T) => void, onError?: (error: ApiError) => void): () => void {
  const url = new URL(apiUrl(), location.href);
  url.searchParams.set("query", query);
  url.searchParams.set("variables", JSON.stringify(variables ?? {}));
  const source = new EventSource(url.toString());
  const handle = (event: MessageEvent) => {
    let result: GraphQLResponse<T>;
    try {
      result = JSON.parse(event.data as string) as GraphQLResponse<T>;
    } catch {
      return;
    }
    if (result.errors?.length) onError?.(new ApiError(result.errors[0]!.message, result.errors[0]!.extensions?.code ?? "GRAPHQL_ERROR"));
    else if (result.data) onData(result.data);
  };
  source.addEventListener("next", handle as EventListener);
  source.addEventListener("message", handle as EventListener);
  source.addEventListener("complete", () => source.close());
  source.onerror = () => onError?.(new ApiError("The live update connection to the PRSM API was lost; reconnecting.", "API_DOWN"));
  return () => source.close();
}
