/**
 * A listing's metadata document, built in the browser the way config/launch-models.ts builds the launch listings':
 * a JSON object (name, vendor, category, unit, description, plus the model id and the gateway URL a provider serves
 * it at) embedded as a base64 `data:application/json` URI, which the indexer decodes (indexer/lib/metadata.ts) into
 * the listing's name, vendor, description and metadata; the content hash is keccak256 of the JSON's UTF-8 bytes.
 */
import { keccak256, toBytes, type Hex } from "viem";

/** The indexer refuses decoded documents above this (MAX_METADATA_BYTES). */
export const MAX_METADATA_BYTES = 64 * 1024;

export const UNITS = [
  { id: 0, name: "Token", label: "per token" },
  { id: 1, name: "Request", label: "per request" },
  { id: 2, name: "Second", label: "per second" },
] as const;

export interface MetadataInput {
  name: string;
  vendor: string;
  description: string;
  category: string;
  unit: number;
  model: string;
  endpoint: string;
}

export function metadataDocument(input: MetadataInput): Record<string, string> {
  const doc: Record<string, string> = {
    name: input.name.trim(),
    vendor: input.vendor.trim(),
    category: input.category,
    unit: UNITS[input.unit]?.name ?? "Token",
    description: input.description.trim(),
  };
  if (input.model.trim()) doc.model = input.model.trim();
  if (input.endpoint.trim()) doc.endpoint = input.endpoint.trim();
  return doc;
}

function base64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

export function encodeMetadata(doc: Record<string, string>): { json: string; uri: string; contentHash: Hex; bytes: number } {
  const json = JSON.stringify(doc);
  const bytes = new TextEncoder().encode(json);
  return { json, uri: `data:application/json;base64,${base64(bytes)}`, contentHash: keccak256(toBytes(json)), bytes: bytes.length };
}

/** What is wrong with the form, or undefined. */
export function validateMetadata(input: MetadataInput): string | undefined {
  if (!input.name.trim()) return "Give the model a name.";
  if (input.name.trim().length > 120) return "The name is at most 120 characters.";
  if (input.endpoint.trim()) {
    try {
      const url = new URL(input.endpoint.trim());
      if (url.protocol !== "https:" && url.protocol !== "http:") return "The endpoint must be an http(s) URL.";
    } catch {
      return "The endpoint is not a URL (e.g. https://gateway.example.com).";
    }
  }
  return undefined;
}
