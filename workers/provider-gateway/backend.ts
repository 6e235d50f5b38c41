/**
 * What answers a request behind the gateway: the built-in demo model, or any OpenAI-compatible server (the provider's
 * own model server). Both take the parsed OpenAI request and return the OpenAI response plus token usage, which the
 * gateway turns into billing units.
 */
import { BadRequest, WorkerError } from "../shared/errors";
import { answer, countTokens, DEMO_MODEL_ID, embed } from "./demo-model";

export type Endpoint = "/v1/chat/completions" | "/v1/embeddings";
export const ENDPOINTS: readonly Endpoint[] = ["/v1/chat/completions", "/v1/embeddings"];

export interface ChatRequest {
  model?: string;
  messages: { role: string; content: string }[];
  max_tokens?: number;
}

export interface EmbeddingsRequest {
  model?: string;
  input: string | string[];
}

export interface BackendResult {
  response: Record<string, unknown>;
  /** Tokens in and out, as the model counts them. */
  promptTokens: number;
  completionTokens: number;
}

export interface Backend {
  readonly model: string;
  /** A lower bound of the request's tokens, known before running it (0 when the backend cannot tell). */
  estimatePromptTokens(endpoint: Endpoint, body: ChatRequest | EmbeddingsRequest): number;
  run(endpoint: Endpoint, body: ChatRequest | EmbeddingsRequest, id: string): Promise<BackendResult>;
}

const ROLES = new Set(["system", "user", "assistant", "tool", "developer"]);

/** Checks the OpenAI request shape, naming the first bad field (400). */
export function parseRequest(endpoint: Endpoint, body: unknown): ChatRequest | EmbeddingsRequest {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new BadRequest("request body must be a JSON object");
  const b = body as Record<string, unknown>;
  if (b.model !== undefined && typeof b.model !== "string") throw new BadRequest("model must be a string");
  if (endpoint === "/v1/chat/completions") {
    if (!Array.isArray(b.messages) || b.messages.length === 0 || b.messages.length > 256) {
      throw new BadRequest("messages must be a non-empty array (at most 256)");
    }
    b.messages.forEach((m, i) => {
      const msg = (m ?? {}) as Record<string, unknown>;
      if (typeof msg.role !== "string" || !ROLES.has(msg.role)) throw new BadRequest(`messages[${i}].role must be one of ${[...ROLES].join(", ")}`);
      if (typeof msg.content !== "string") throw new BadRequest(`messages[${i}].content must be a string`);
    });
    if (b.max_tokens !== undefined && (!Number.isInteger(b.max_tokens) || (b.max_tokens as number) < 1)) {
      throw new BadRequest("max_tokens must be a positive integer");
    }
    return b as unknown as ChatRequest;
  }
  const input = b.input;
  const ok = typeof input === "string" || (Array.isArray(input) && input.length > 0 && input.length <= 256 && input.every((s) => typeof s === "string"));
  if (!ok) throw new BadRequest("input must be a string or a non-empty array of strings (at most 256)");
  return b as unknown as EmbeddingsRequest;
}

function inputs(body: EmbeddingsRequest): string[] {
  return typeof body.input === "string" ? [body.input] : body.input;
}

/** The built-in demo model (wink-nlp). */
export class DemoBackend implements Backend {
  readonly model = DEMO_MODEL_ID;

  estimatePromptTokens(endpoint: Endpoint, body: ChatRequest | EmbeddingsRequest): number {
    if (endpoint === "/v1/embeddings") return inputs(body as EmbeddingsRequest).reduce((n, s) => n + countTokens(s), 0);
    return (body as ChatRequest).messages.reduce((n, m) => n + countTokens(m.content), 0);
  }

  async run(endpoint: Endpoint, body: ChatRequest | EmbeddingsRequest, id: string): Promise<BackendResult> {
    const promptTokens = this.estimatePromptTokens(endpoint, body);
    const created = Math.floor(Date.now() / 1000);
    if (endpoint === "/v1/embeddings") {
      const data = inputs(body as EmbeddingsRequest).map((text, index) => ({ object: "embedding", index, embedding: embed(text) }));
      return {
        response: { object: "list", data, model: this.model, usage: { prompt_tokens: promptTokens, total_tokens: promptTokens } },
        promptTokens,
        completionTokens: 0,
      };
    }
    const chat = body as ChatRequest;
    const lastUser = [...chat.messages].reverse().find((m) => m.role === "user");
    let content = answer(lastUser?.content ?? "");
    let finishReason = "stop";
    if (chat.max_tokens !== undefined && countTokens(content) > chat.max_tokens) {
      // Keep whole lines while they fit: the answer is a list of findings, a cut line would mislead.
      const kept: string[] = [];
      for (const line of content.split("\n")) {
        if (countTokens([...kept, line].join("\n")) > chat.max_tokens) break;
        kept.push(line);
      }
      content = kept.join("\n");
      finishReason = "length";
    }
    const completionTokens = countTokens(content);
    return {
      response: {
        id,
        object: "chat.completion",
        created,
        model: this.model,
        choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: finishReason }],
        usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
      },
      promptTokens,
      completionTokens,
    };
  }
}

/** Any OpenAI-compatible server: the request is passed on, the usage it reports is what gets metered. */
export class UpstreamBackend implements Backend {
  constructor(
    private readonly baseUrl: string,
    readonly model: string,
    private readonly apiKey: string | undefined,
    private readonly timeoutMs: number,
  ) {}

  estimatePromptTokens(): number {
    return 0;
  }

  async run(endpoint: Endpoint, body: ChatRequest | EmbeddingsRequest): Promise<BackendResult> {
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${endpoint}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...(this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {}) },
        body: JSON.stringify({ ...body, model: body.model ?? this.model }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw new WorkerError(`upstream model server unreachable: ${(error as Error).message}`, "upstream-unavailable", 502);
    }
    const text = await res.text();
    if (res.status >= 400 && res.status < 500) throw new WorkerError(`upstream refused the request: ${text.slice(0, 300)}`, "upstream-refused", 400);
    if (!res.ok) throw new WorkerError(`upstream model server answered ${res.status}`, "upstream-failed", 502);
    let response: Record<string, unknown>;
    try {
      response = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new WorkerError("upstream answered with invalid JSON", "upstream-failed", 502);
    }
    const usage = (response.usage ?? {}) as Record<string, unknown>;
    const promptTokens = Number(usage.prompt_tokens);
    const totalTokens = Number(usage.total_tokens);
    if (!Number.isInteger(promptTokens) || !Number.isInteger(totalTokens) || totalTokens < promptTokens) {
      throw new WorkerError("upstream answer has no usage.prompt_tokens/total_tokens to meter", "upstream-failed", 502);
    }
    return { response, promptTokens, completionTokens: totalTokens - promptTokens };
  }
}
