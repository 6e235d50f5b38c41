/**
 * Which of the renter's escrows a request may pay from, and opening new ones within the renter's budget.
 *
 * The request's `model` chooses: `listing-<id>` (or any model id the orchestrator's /v1/models lists) means that
 * listing; a category name (`language`, `code`, ...) any listing of that category; anything else (`auto`, a name
 * no listing has) every usable escrow. An escrow is usable while it is open, more than a minute from expiry and able
 * to pay for at least one more unit. When none is usable and auto-open is on, the proxy opens one (EIP-2612 permit
 * and the escrow in one transaction) for the listing, or the cheapest listing of the category or of all, with a
 * deposit of at most what is left of the budget (the sum of deposits this proxy ever made).
 */
import { PERMIT_TYPES } from "../shared/permit";
import type { Address, Hex } from "viem";
import { parseEventLogs, parseSignature } from "viem";
import { CATEGORIES } from "../../config/parameters";
import { latestTimestamp, readEscrow, readListing, type ChainContext, type Escrow, type Listing } from "../shared/chain";
import { loadDeployment } from "../shared/deployment";
import { PaymentRequired, WorkerError } from "../shared/errors";
import type { Logger } from "../shared/logger";
import type { Ledger } from "./ledger";

export interface PoolOptions {
  /** Most FTNS wei this proxy deposits into escrows it opens, in total. */
  budgetWei: bigint;
  /** Deposit of one escrow it opens (also its spend cap). */
  depositWei: bigint;
  durationSeconds: number;
  autoOpen: boolean;
  network: string;
}

export interface OfferedModel {
  id: string;
  listingId?: string;
  category?: string;
  pricePerUnit?: string;
  [k: string]: unknown;
}


export class EscrowPool {
  private readonly listings = new Map<string, Listing>();
  private models?: { at: number; data: OfferedModel[] };
  private readonly opening = new Map<string, Promise<bigint>>();

  constructor(
    private readonly ctx: ChainContext,
    private readonly ledger: Ledger,
    private readonly orchestratorUrl: string,
    private readonly options: PoolOptions,
    private readonly log: Logger,
  ) {}

  /** Adds escrows the renter already has (RENTER_ESCROWS); each must be this key's. */
  async adopt(ids: bigint[]): Promise<void> {
    for (const id of ids) {
      const escrow = await readEscrow(this.ctx, id);
      if (escrow.status === 0) throw new WorkerError(`escrow ${id} does not exist`, "no-such-escrow", 400);
      if (escrow.renter.toLowerCase() !== this.ctx.account.address.toLowerCase()) {
        throw new WorkerError(`escrow ${id} belongs to ${escrow.renter}, not to this key ${this.ctx.account.address}`, "not-renter", 400);
      }
      this.ledger.add({ escrowId: id.toString(), listingId: escrow.listingId.toString(), pricePerUnit: escrow.pricePerUnit.toString(), deposit: "0" });
    }
  }

  async listing(id: bigint): Promise<Listing> {
    let l = this.listings.get(id.toString());
    if (!l) {
      l = await readListing(this.ctx, id);
      this.listings.set(id.toString(), l);
    }
    return l;
  }

  /** The orchestrator's /v1/models, cached for 30 s. */
  async offered(): Promise<OfferedModel[]> {
    if (this.models && Date.now() - this.models.at < 30_000) return this.models.data;
    const res = await fetch(`${this.orchestratorUrl}/v1/models`, { signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new WorkerError(`the orchestrator's model list answered ${res.status}`, "orchestrator-unavailable", 502);
    const data = ((await res.json()) as { data?: OfferedModel[] }).data ?? [];
    this.models = { at: Date.now(), data };
    return data;
  }

  /** What `model` asks for: one listing, a category, or anything. */
  async target(model: string | undefined): Promise<{ listingId?: bigint; category?: number }> {
    const m = (model ?? "auto").trim();
    const listing = /^listing-(\d{1,30})$/.exec(m);
    if (listing) return { listingId: BigInt(listing[1]!) };
    const category = CATEGORIES.indexOf(m);
    if (category >= 0) return { category };
    if (m !== "auto") {
      const entry = (await this.offered().catch(() => [])).find((o) => o.id === m && o.listingId !== undefined);
      if (entry) return { listingId: BigInt(entry.listingId!) };
    }
    return {};
  }

  /**
   * The usable escrows for `model` with their chain state (opening one if allowed and needed); `accept` may still
   * refuse one (the renter client's view of its usage).
   */
  async escrowsFor(model: string | undefined, accept: (id: bigint, escrow: Escrow) => boolean | Promise<boolean> = () => true): Promise<bigint[]> {
    const want = await this.target(model);
    const now = await latestTimestamp(this.ctx);
    const usable: bigint[] = [];
    for (const entry of this.ledger.all()) {
      const id = BigInt(entry.escrowId);
      const escrow = await readEscrow(this.ctx, id);
      if (!this.isUsable(escrow, now)) continue;
      if (want.listingId !== undefined && escrow.listingId !== want.listingId) continue;
      if (want.category !== undefined && (await this.listing(escrow.listingId)).category !== want.category) continue;
      if (await accept(id, escrow)) usable.push(id);
    }
    if (usable.length > 0 || !this.options.autoOpen) {
      if (usable.length === 0) throw new PaymentRequired("no-escrow", `no open escrow can pay for model "${model ?? "auto"}" and auto-open is off (RENTER_AUTO_OPEN)`);
      return usable;
    }
    // One opening per target at a time: concurrent requests for the same model share it (and only they do).
    const key = `${want.listingId ?? ""}/${want.category ?? ""}`;
    let opening = this.opening.get(key);
    if (!opening) {
      opening = this.open(want).finally(() => this.opening.delete(key));
      this.opening.set(key, opening);
    }
    return [await opening];
  }

  private isUsable(escrow: Escrow, now: bigint): boolean {
    return escrow.status === 1 && now + 60n < escrow.expiresAt && escrow.spendCap - escrow.charged >= escrow.pricePerUnit;
  }

  private async open(want: { listingId?: bigint; category?: number }): Promise<bigint> {
    let listingId = want.listingId;
    if (listingId === undefined) {
      const offered = (await this.offered()).filter((o) => o.listingId !== undefined && o.pricePerUnit !== undefined && (want.category === undefined || o.category === CATEGORIES[want.category]));
      offered.sort((a, b) => (BigInt(a.pricePerUnit!) < BigInt(b.pricePerUnit!) ? -1 : 1));
      if (offered.length === 0) throw new WorkerError("no listing is offered for this model", "model-not-found", 404);
      listingId = BigInt(offered[0]!.listingId!);
    }
    const listing = await this.listing(listingId);
    if (listing.status !== 1) throw new WorkerError(`listing ${listingId} is not active`, "listing-inactive", 404);
    // An escrow that cannot pay for one unit would be unusable the moment it opened (and the next request would
    // open another): refuse instead.
    if (listing.pricePerUnit > this.options.depositWei) {
      throw new PaymentRequired("deposit-too-small", `listing ${listingId} costs ${listing.pricePerUnit} FTNS wei a unit, more than an escrow's deposit (RENTER_ESCROW_DEPOSIT_FTNS)`);
    }
    const left = this.options.budgetWei - this.ledger.deposited();
    const deposit = left < this.options.depositWei ? left : this.options.depositWei;
    const market = this.ctx.marketplace;
    const minDeposit = (await this.ctx.publicClient.readContract({ address: market.address, abi: market.abi, functionName: "minEscrowDeposit" })) as bigint;
    if (deposit < minDeposit || deposit <= 0n || deposit < listing.pricePerUnit) {
      throw new PaymentRequired("budget-exhausted", `the renter's budget is spent: ${this.ledger.deposited()} of ${this.options.budgetWei} FTNS wei deposited, and an escrow needs at least ${minDeposit}`);
    }
    const token = loadDeployment(this.options.network, "FTNSToken", "TOKEN_ADDRESS");
    const owner = this.ctx.account.address;
    const now = await latestTimestamp(this.ctx);
    const permitDeadline = now + 3_600n;
    const [name, nonce] = await Promise.all([
      this.ctx.publicClient.readContract({ address: token.address, abi: token.abi, functionName: "name" }) as Promise<string>,
      this.ctx.publicClient.readContract({ address: token.address, abi: token.abi, functionName: "nonces", args: [owner] }) as Promise<bigint>,
    ]);
    const [, , version, chainId] = (await this.ctx.publicClient.readContract({ address: token.address, abi: token.abi, functionName: "eip712Domain" })) as [Hex, string, string, bigint, Address];
    const signature = await this.ctx.account.signTypedData({
      domain: { name, version, chainId: Number(chainId), verifyingContract: token.address },
      types: PERMIT_TYPES,
      primaryType: "Permit",
      message: { owner, spender: market.address, value: deposit, nonce, deadline: permitDeadline },
    });
    const { v, r, s } = parseSignature(signature);
    const expiresAt = now + BigInt(this.options.durationSeconds);
    const { request } = await this.ctx.publicClient.simulateContract({
      account: this.ctx.account,
      address: market.address,
      abi: market.abi,
      functionName: "openEscrowWithPermit",
      args: [listingId, deposit, deposit, expiresAt, listing.pricePerUnit, permitDeadline, Number(v), r, s],
    });
    const hash = await this.ctx.walletClient.writeContract(request as never);
    const receipt = await this.ctx.publicClient.waitForTransactionReceipt({ hash });
    if (receipt.status !== "success") throw new WorkerError(`opening an escrow failed (${hash})`, "open-failed", 502);
    // The id from the receipt's event, not the simulation (another transaction of this key may have come first).
    const opened = parseEventLogs({ abi: market.abi, logs: receipt.logs, eventName: "EscrowOpened" }) as unknown as { args: { escrowId: bigint } }[];
    if (!opened[0]) throw new WorkerError(`opening an escrow emitted no EscrowOpened (${hash})`, "open-failed", 502);
    const escrowId = opened[0].args.escrowId;
    this.ledger.add({ escrowId: escrowId.toString(), listingId: listingId.toString(), pricePerUnit: listing.pricePerUnit.toString(), deposit: deposit.toString() });
    this.log.info({ escrowId: escrowId.toString(), listingId: listingId.toString(), deposit: deposit.toString(), tx: hash }, "opened an escrow");
    return escrowId;
  }
}
