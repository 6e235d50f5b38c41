/**
 * What answers a request behind the gateway: the built-in demo model, or any OpenAI-compatible server (the provider's
 * own model server). Both take the parsed OpenAI request and return the OpenAI response plus token usage, which the
 * gateway turns into billing units.
 */
import { BadRequest, WorkerError } from "../shared/errors";
import { SseParser } from "../shared/sse";
import { answer, countTokens, DEMO_MODEL_ID, embed } from "./demo-model";

export type Endpoint = "/v1/chat/completions" | "/v1/embeddings";
export const ENDPOINTS: readonly Endpoint[] = ["/v1/chat/completions", "/v1/embeddings"];

export interface ChatRequest {
  model?: string;
  messages: { role: string; content: string }[];
  max_tokens?: number;
  /** OpenAI streaming: the answer as server-sent chunk events (workers/shared/sse.ts). */
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
}

export interface EmbeddingsRequest {
  model?: string;
  input: string | string[];
  /** "float" (default) or "base64" (little-endian float32, what the openai SDK asks for by default). */
  encoding_format?: "float" | "base64";
}

export interface BackendResult {
  response: Record<string, unknown>;
  /** Tokens in and out, as the model counts them. */
  promptTokens: number;
  completionTokens: number;
}

/** How a streamed chat answer ended. */
export interface StreamOutcome {
  promptTokens: number;
  /** Completion tokens of the pieces handed to `onPiece` and accepted (what was delivered). */
  completionTokens: number;
  finishReason: string;
}

/**
 * Receives one piece of a streamed answer and the tokens it holds; returns false to stop the model (the client left,
 * or the escrow or the renter's authorization cannot pay for more). A piece refused is not delivered or counted.
 */
export type PieceSink = (content: string, tokens: number) => Promise<boolean>;

export interface Backend {
  readonly model: string;
  /** The request's prompt tokens as this gateway counts them, known before running it (the 402 check before work). */
  estimatePromptTokens(endpoint: Endpoint, body: ChatRequest | EmbeddingsRequest): number;
  run(endpoint: Endpoint, body: ChatRequest | EmbeddingsRequest, id: string): Promise<BackendResult>;
  /** Streams a chat answer piece by piece into `onPiece`. */
  streamChat(body: ChatRequest, onPiece: PieceSink): Promise<StreamOutcome>;
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
    if (b.stream !== undefined && typeof b.stream !== "boolean") throw new BadRequest("stream must be a boolean");
    const options = b.stream_options as Record<string, unknown> | undefined | null;
    if (options !== undefined && options !== null && (typeof options !== "object" || (options.include_usage !== undefined && typeof options.include_usage !== "boolean"))) {
      throw new BadRequest("stream_options must be an object with a boolean include_usage");
    }
    return b as unknown as ChatRequest;
  }
  const input = b.input;
  const ok = typeof input === "string" || (Array.isArray(input) && input.length > 0 && input.length <= 256 && input.every((s) => typeof s === "string"));
  if (!ok) throw new BadRequest("input must be a string or a non-empty array of strings (at most 256)");
  if (b.stream === true) throw new BadRequest("embeddings cannot be streamed");
  if (b.encoding_format !== undefined && b.encoding_format !== "float" && b.encoding_format !== "base64") throw new BadRequest('encoding_format must be "float" or "base64"');
  return b as unknown as EmbeddingsRequest;
}

function inputs(body: EmbeddingsRequest): string[] {
  return typeof body.input === "string" ? [body.input] : body.input;
}

/** The built-in demo model (wink-nlp). */
export class DemoBackend implements Backend {
  readonly model = DEMO_MODEL_ID;

  /** `pieceDelayMs`: the pause between streamed pieces (the analysis is instant; a real model is not). */
  constructor(private readonly pieceDelayMs = 15) {}

  private chatAnswer(chat: ChatRequest): { content: string; finishReason: string } {
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
    return { content, finishReason };
  }

  async streamChat(body: ChatRequest, onPiece: PieceSink): Promise<StreamOutcome> {
    const promptTokens = this.estimatePromptTokens("/v1/chat/completions", body);
    const { content, finishReason } = this.chatAnswer(body);
    let completionTokens = 0;
    for (const piece of pieces(content)) {
      const tokens = countTokens(piece);
      if (!(await onPiece(piece, tokens))) return { promptTokens, completionTokens, finishReason: "length" };
      completionTokens += tokens;
      if (this.pieceDelayMs > 0) await new Promise((r) => setTimeout(r, this.pieceDelayMs));
    }
    return { promptTokens, completionTokens, finishReason };
  }

  estimatePromptTokens(endpoint: Endpoint, body: ChatRequest | EmbeddingsRequest): number {
    if (endpoint === "/v1/embeddings") return inputs(body as EmbeddingsRequest).reduce((n, s) => n + countTokens(s), 0);
    return (body as ChatRequest).messages.reduce((n, m) => n + countTokens(m.content), 0);
  }

  async run(endpoint: Endpoint, body: ChatRequest | EmbeddingsRequest, id: string): Promise<BackendResult> {
    const promptTokens = this.estimatePromptTokens(endpoint, body);
    const created = Math.floor(Date.now() / 1000);
    if (endpoint === "/v1/embeddings") {
      const base64 = (body as EmbeddingsRequest).encoding_format === "base64";
      const encode = (v: number[]) => (base64 ? Buffer.from(new Float32Array(v).buffer).toString("base64") : v);
      const data = inputs(body as EmbeddingsRequest).map((text, index) => ({ object: "embedding", index, embedding: encode(embed(text)) }));
      return {
        response: { object: "list", data, model: this.model, usage: { prompt_tokens: promptTokens, total_tokens: promptTokens } },
        promptTokens,
        completionTokens: 0,
      };
    }
    const { content, finishReason } = this.chatAnswer(body as ChatRequest);
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

/** Pieces of a text for streaming: runs of about three words, whitespace kept with the word before it. */
export function pieces(text: string): string[] {
  const words = text.match(/\S+\s*|\s+/g) ?? [];
  const out: string[] = [];
  for (let i = 0; i < words.length; i += 3) out.push(words.slice(i, i + 3).join(""));
  return out;
}

/**
 * The request fields passed to an upstream server. The listing decides the model (the renter's `model` never reaches
 * the upstream), and fields that would multiply the work or its cost beyond what is metered (`n`, `best_of`,
 * tools, logprobs, ...) are not passed: a renter gets the answer the listing sells.
 */
const CHAT_FIELDS = ["messages", "max_tokens", "temperature", "top_p", "stop", "presence_penalty", "frequency_penalty", "seed", "user"] as const;
const EMBEDDING_FIELDS = ["input", "encoding_format", "dimensions", "user"] as const;

function upstreamBody(endpoint: Endpoint, body: ChatRequest | EmbeddingsRequest, model: string, stream: boolean): Record<string, unknown> {
  const source = body as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = { model };
  for (const field of endpoint === "/v1/embeddings" ? EMBEDDING_FIELDS : CHAT_FIELDS) if (source[field] !== undefined) out[field] = source[field];
  if (stream) {
    out.stream = true;
    out.stream_options = { include_usage: true };
  }
  return out;
}

/** Any OpenAI-compatible server: the request is passed on, the usage it reports is what gets metered. */
export class UpstreamBackend implements Backend {
  constructor(
    private readonly baseUrl: string,
    readonly model: string,
    private readonly apiKey: string | undefined,
    private readonly timeoutMs: number,
  ) {}

  /**
   * Counted with the demo model's tokenizer (wink-nlp): not the upstream's own tokenizer, but it lets the gateway
   * refuse (402) a prompt the escrow cannot pay for before the upstream does any work.
   */
  estimatePromptTokens(endpoint: Endpoint, body: ChatRequest | EmbeddingsRequest): number {
    if (endpoint === "/v1/embeddings") return inputs(body as EmbeddingsRequest).reduce((n, s) => n + countTokens(s), 0);
    return (body as ChatRequest).messages.reduce((n, m) => n + countTokens(m.content), 0);
  }

  /**
   * Sends the request; `timeoutMs` (armed by the caller through `controller`) bounds the whole answer, or for a
   * stream the wait for its headers and then each pause (streamChat).
   */
  private async call(endpoint: Endpoint, body: Record<string, unknown>, controller: AbortController, timer: NodeJS.Timeout): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${endpoint}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...(this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {}) },
        body: JSON.stringify(body),
        signal: controller.signal,
      });
    } catch (error) {
      clearTimeout(timer);
      throw new WorkerError(`upstream model server unreachable: ${(error as Error).message}`, "upstream-unavailable", 502);
    }
    if (body.stream) clearTimeout(timer);
    if (res.status >= 400 && res.status < 500) throw new WorkerError(`upstream refused the request: ${(await res.text()).slice(0, 300)}`, "upstream-refused", 400);
    if (!res.ok) throw new WorkerError(`upstream model server answered ${res.status}`, "upstream-failed", 502);
    return res;
  }

  private deadline(controller: AbortController): NodeJS.Timeout {
    return setTimeout(() => controller.abort(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
  }

  async run(endpoint: Endpoint, body: ChatRequest | EmbeddingsRequest): Promise<BackendResult> {
    const controller = new AbortController();
    const timer = this.deadline(controller);
    let text: string;
    try {
      const res = await this.call(endpoint, upstreamBody(endpoint, body, this.model, false), controller, timer);
      text = await res.text();
    } catch (error) {
      if (error instanceof WorkerError) throw error;
      throw new WorkerError(`upstream model server failed: ${(error as Error).message}`, "upstream-unavailable", 502);
    } finally {
      clearTimeout(timer);
    }
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

  /**
   * Streams from the upstream (`stream: true` with usage in its last chunk). Each content delta is handed on with
   * its tokens as wink-nlp counts them (the gateway's running total, to stop at the escrow's cap); a stream that
   * ran to its end is metered by the upstream's own usage, one cut short by what was delivered.
   */
  async streamChat(body: ChatRequest, onPiece: PieceSink): Promise<StreamOutcome> {
    const controller = new AbortController();
    const res = await this.call("/v1/chat/completions", upstreamBody("/v1/chat/completions", body, this.model, true), controller, this.deadline(controller));
    // CRLF servers (sse-starlette's default) and keep-alive comments are common upstream.
    const parser = new SseParser(1 << 20, true);
    const decoder = new TextDecoder();
    let delivered = 0;
    let finishReason = "stop";
    let usage: { prompt_tokens?: unknown; completion_tokens?: unknown } | undefined;
    const reader = res.body!.getReader();
    // A pause longer than the timeout ends the stream: what was delivered is still reported (below).
    const next = () =>
      new Promise<ReadableStreamReadResult<Uint8Array> | "stalled">((resolve, reject) => {
        const timer = setTimeout(() => resolve("stalled"), this.timeoutMs);
        reader.read().then((r) => (clearTimeout(timer), resolve(r)), (e) => (clearTimeout(timer), reject(e)));
      });
    try {
      for (;;) {
        const step = await next();
        if (step === "stalled") {
          controller.abort();
          return { promptTokens: this.estimatePromptTokens("/v1/chat/completions", body), completionTokens: delivered, finishReason: "length" };
        }
        const { value, done } = step;
        if (done) break;
        for (const event of parser.push(decoder.decode(value, { stream: true }))) {
          if (event.data === "[DONE]" || event.data.trim() === "") continue;
          let chunk: { choices?: { delta?: { content?: unknown }; finish_reason?: unknown }[]; usage?: typeof usage };
          try {
            chunk = JSON.parse(event.data);
          } catch {
            throw new WorkerError("upstream streamed a chunk that is not JSON", "upstream-failed", 502);
          }
          if (chunk.usage) usage = chunk.usage;
          const choice = chunk.choices?.[0];
          if (typeof choice?.finish_reason === "string") finishReason = choice.finish_reason;
          const content = choice?.delta?.content;
          if (typeof content === "string" && content.length > 0) {
            const tokens = countTokens(content);
            if (!(await onPiece(content, tokens))) {
              return { promptTokens: this.estimatePromptTokens("/v1/chat/completions", body), completionTokens: delivered, finishReason: "length" };
            }
            delivered += tokens;
          }
        }
      }
    } finally {
      await reader.cancel().catch(() => undefined);
    }
    const prompt = Number(usage?.prompt_tokens);
    const completion = Number(usage?.completion_tokens);
    if (Number.isInteger(prompt) && Number.isInteger(completion) && prompt >= 0 && completion >= 0) {
      return { promptTokens: prompt, completionTokens: completion, finishReason };
    }
    return { promptTokens: this.estimatePromptTokens("/v1/chat/completions", body), completionTokens: delivered, finishReason };
  }
}
