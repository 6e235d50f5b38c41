/** Terms versions never change once published, so one read per version serves the process for good. */
import { readTerms, type ChainReader, type Terms } from "./chain";

const cache = new Map<string, Terms>();

export async function readTermsCached(ctx: ChainReader, termsId: number): Promise<Terms> {
  const key = `${ctx.marketplace.address.toLowerCase()}:${termsId}`;
  let terms = cache.get(key);
  if (!terms) {
    terms = await readTerms(ctx, termsId);
    cache.set(key, terms);
  }
  return terms;
}
