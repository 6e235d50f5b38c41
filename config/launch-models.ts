/**
 * The eight launch listings. Prices are the providers' public list prices in US dollars, converted to FTNS at a
 * fixed reference rate so a renter pays about the same in FTNS as in dollars elsewhere. The rate is a launch
 * convention, not an oracle: providers change their prices with `setPrice` as FTNS trades.
 *
 * FTNS_USD_MICROS: 1 FTNS = 0.10 USD (100,000 micro-dollars).
 */
import { ethers } from "ethers";

export const FTNS_USD_MICROS = 100_000n;

export type Unit = "Token" | "Request" | "Second";
export const UNIT_IDS: Record<Unit, number> = { Token: 0, Request: 1, Second: 2 };

export interface LaunchModel {
  name: string;
  vendor: string;
  category: "language" | "image" | "code" | "speech" | "embedding" | "other";
  unit: Unit;
  /** List price per unit in micro-dollars per 1,000 units (so sub-cent token prices stay integers). */
  usdMicrosPer1000Units: bigint;
  description: string;
}

export const LAUNCH_MODELS: LaunchModel[] = [
  { name: "GPT-4 Turbo", vendor: "OpenAI", category: "language", unit: "Token", usdMicrosPer1000Units: 30_000n, description: "128k-context chat model; priced at its output-token rate ($0.03 / 1K tokens)" },
  { name: "Claude-3 Opus", vendor: "Anthropic", category: "language", unit: "Token", usdMicrosPer1000Units: 75_000n, description: "200k-context chat model; output-token rate ($0.075 / 1K tokens)" },
  { name: "Llama 2 70B Chat", vendor: "Meta", category: "language", unit: "Token", usdMicrosPer1000Units: 900n, description: "open-weights chat model, hosted ($0.0009 / 1K tokens)" },
  { name: "DALL-E 3", vendor: "OpenAI", category: "image", unit: "Request", usdMicrosPer1000Units: 40_000_000n, description: "text-to-image, 1024x1024 standard ($0.04 / image)" },
  { name: "Whisper Large v3", vendor: "OpenAI", category: "speech", unit: "Second", usdMicrosPer1000Units: 100_000n, description: "speech-to-text ($0.006 / minute = $0.0001 / second)" },
  { name: "Code Llama 34B Instruct", vendor: "Meta", category: "code", unit: "Token", usdMicrosPer1000Units: 800n, description: "code generation and completion ($0.0008 / 1K tokens)" },
  { name: "Stable Diffusion XL", vendor: "Stability AI", category: "image", unit: "Request", usdMicrosPer1000Units: 4_000_000n, description: "text-to-image, 1024x1024 ($0.004 / image)" },
  { name: "MPT-30B Chat", vendor: "MosaicML", category: "language", unit: "Token", usdMicrosPer1000Units: 1_000n, description: "open-weights chat model, hosted ($0.001 / 1K tokens)" },
];

/** FTNS (raw, 18 decimals) per unit: usd/unit ÷ usd/FTNS, computed in integers. */
export function priceInFtns(model: LaunchModel): bigint {
  // (micros per 1000 units / 1000) / (micros per FTNS) * 1e18
  return (model.usdMicrosPer1000Units * 10n ** 18n) / (1_000n * FTNS_USD_MICROS);
}

/** The listing metadata, embedded as a data: URI (no external host needed) and hashed as the content hash. */
export function listingMetadata(model: LaunchModel): { uri: string; contentHash: string } {
  const json = JSON.stringify({
    name: model.name,
    vendor: model.vendor,
    category: model.category,
    unit: model.unit,
    description: model.description,
    priceUsdPer1000Units: Number(model.usdMicrosPer1000Units) / 1e6,
    ftnsUsdRate: Number(FTNS_USD_MICROS) / 1e6,
  });
  return {
    uri: `data:application/json;base64,${Buffer.from(json).toString("base64")}`,
    contentHash: ethers.keccak256(ethers.toUtf8Bytes(json)),
  };
}

/**
 * The local demo provider's own model (workers/provider-gateway/demo-model.ts: wink-nlp text analysis, served by
 * `npm start`). Listed on local chains only, next to the eight launch listings, and named for what it is.
 */
export const DEMO_MODEL: LaunchModel = {
  name: "PRSM Demo NLP (wink-nlp)",
  vendor: "PRSM demo provider",
  category: "language",
  unit: "Token",
  usdMicrosPer1000Units: 10_000n,
  description: "offline text analysis: sentiment, entities, keywords, extractive summary; hashed bag-of-lemmas embeddings ($0.01 / 1K tokens)",
};
