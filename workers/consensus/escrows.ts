/**
 * What a node knows of escrows without asking the chain per report: a bounded cache of escrow records (a charge or
 * close seen in the logs drops the entry, so the next use re-reads it), the number of escrows that exist (an id
 * beyond it is refused without any read: a flood of reports for made-up escrows costs no RPC), and listings'
 * providers (fixed when listed). Concurrent misses for one escrow share one read.
 */
import type { Address } from "viem";
import type { ChainReader, Escrow } from "../shared/chain";
import { readEscrow, readListing } from "../shared/chain";

export class EscrowCache {
  private readonly escrows = new Map<string, Escrow>();
  private readonly inFlight = new Map<string, Promise<Escrow>>();
  private readonly providers = new Map<string, Address>();
  private count = 0n;

  constructor(
    private readonly ctx: ChainReader,
    private readonly maxEntries = 100_000,
  ) {}

  /** Re-reads how many escrows exist (once per tick). */
  async refreshCount(): Promise<void> {
    this.count = (await this.ctx.publicClient.readContract({
      address: this.ctx.marketplace.address,
      abi: this.ctx.marketplace.abi,
      functionName: "escrowCount",
    })) as bigint;
  }

  /** How many escrows existed at the last count. */
  get known(): bigint {
    return this.count;
  }

  /** Whether an escrow with this id can exist (ids start at 1). The count may lag by a tick: the caller re-reads. */
  mayExist(escrowId: bigint): boolean {
    return escrowId >= 1n && escrowId <= this.count;
  }

  async get(escrowId: bigint): Promise<Escrow> {
    const key = escrowId.toString();
    const cached = this.escrows.get(key);
    if (cached) return cached;
    let read = this.inFlight.get(key);
    if (!read) {
      read = readEscrow(this.ctx, escrowId).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, read);
    }
    const escrow = await read;
    this.remember(key, escrow);
    return escrow;
  }

  /** Fresh reads (a batch about to be proposed), which also refresh the cache. */
  async readFresh(ids: readonly bigint[]): Promise<Map<string, Escrow>> {
    const out = new Map<string, Escrow>();
    // One call per escrow, all at once.
    const escrows = await Promise.all(ids.map((id) => readEscrow(this.ctx, id)));
    ids.forEach((id, i) => {
      out.set(id.toString(), escrows[i]);
      this.remember(id.toString(), escrows[i]);
    });
    return out;
  }

  /** The chain changed the escrow (a charge, a close, a dispute): forget it. */
  invalidate(escrowId: bigint): void {
    this.escrows.delete(escrowId.toString());
  }

  async provider(listingId: bigint): Promise<Address> {
    const key = listingId.toString();
    let provider = this.providers.get(key);
    if (!provider) {
      provider = (await readListing(this.ctx, listingId)).provider;
      if (this.providers.size >= this.maxEntries) this.providers.delete(this.providers.keys().next().value!);
      this.providers.set(key, provider);
    }
    return provider;
  }

  get size(): number {
    return this.escrows.size;
  }

  private remember(key: string, escrow: Escrow): void {
    this.escrows.delete(key);
    if (this.escrows.size >= this.maxEntries) this.escrows.delete(this.escrows.keys().next().value!);
    this.escrows.set(key, escrow);
  }
}
