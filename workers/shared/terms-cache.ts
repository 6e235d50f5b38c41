/** Terms versions never change once published, so one read per version serves the process for good. */
import { readTerms, type ChainReader, type Escrow, type Terms } from "./chain";

const cache = new Map<string, Terms>();

/** The last moment an escrow can be charged: its expiry plus the settlement grace of the terms it opened with. */
export async function lastChargeAt(ctx: ChainReader, escrow: Pick<Escrow, "expiresAt" | "termsId">): Promise<bigint> {
  return escrow.expiresAt + (await readTermsCached(ctx, escrow.termsId)).settlementGrace;
}

export async function readTermsCached(ctx: ChainReader, termsId: number): Promise<Terms> {
  const key = `${ctx.marketplace.address.toLowerCase()}:${termsId}`;
  let terms = cache.get(key);
  if (!terms) {
    terms = await readTerms(ctx, termsId);
    cache.set(key, terms);
  }
  return terms;
}
