/** ModelMarketplace: listings and prices, escrows and charges, payouts, withdrawals, disputes and slashes, ratings. */
import { ponder } from "ponder:registry";
import schema from "ponder:schema";
import { and, eq } from "ponder";
import { hexToString } from "viem";
import { DEFAULT_IPFS_TIMEOUT_MS, resolveMetadata } from "../lib/metadata";
import { bumpDaily, bumpMarket, countFirst, recordEvent } from "../lib/record";

/**
 * IPFS_GATEWAY (e.g. https://ipfs.io): resolve `ipfs://` metadata URIs through it; unset, they are recorded as
 * `no-ipfs-gateway`. IPFS_TIMEOUT_MS bounds each fetch (default 5000). Read once: the handlers of one run agree.
 */
const IPFS = {
  ipfsGateway: process.env.IPFS_GATEWAY?.trim() || undefined,
  timeoutMs: Number(process.env.IPFS_TIMEOUT_MS) > 0 ? Number(process.env.IPFS_TIMEOUT_MS) : DEFAULT_IPFS_TIMEOUT_MS,
};

/** A bytes32 category name as text (right-padded with zeros; NUL cannot be stored in a text column). */
const categoryText = (name: `0x${string}`) => hexToString(name, { size: 32 }).replace(/\u0000/g, "");

/** An applied batch word: escrowId (uint64) | cumulativeUnits (uint64) | amount (uint128), as in workers/shared/batch.ts. */
function decodeApplied(word: `0x${string}`) {
  const w = BigInt(word);
  return { escrowId: w >> 192n, cumulativeUnits: (w >> 128n) & ((1n << 64n) - 1n), amount: w & ((1n << 128n) - 1n) };
}

const C = "ModelMarketplace";
/** Attested charges have a contract id that later events (settlement, dispute) refer to. */
const attestedChargeKey = (chargeId: bigint) => `attested-${chargeId}`;
/** An entry of a batched settlement, until a dispute gives it a contract charge id. */
const batchEntryKey = (batchId: bigint, index: number) => `batch-${batchId}-${index}`;

ponder.on("ModelMarketplace:CategoryAdded", async ({ event, context }) => {
  const { category, name } = event.args;
  await context.db.insert(schema.category).values({ id: category, name: categoryText(name) }).onConflictDoNothing();
  await recordEvent(context.db, C, "CategoryAdded", event);
});

ponder.on("ModelMarketplace:Listed", async ({ event, context }) => {
  const a = event.args;
  const meta = await resolveMetadata(a.metadataURI, IPFS);
  // Categories come from CategoryAdded; one added before the indexer's start block is read from the contract.
  const categoryName =
    (await context.db.find(schema.category, { id: a.category }))?.name ??
    (categoryText(
      await context.client.readContract({
        abi: context.contracts.ModelMarketplace.abi,
        address: event.log.address,
        functionName: "categoryName",
        args: [a.category],
        blockNumber: event.block.number,
      }),
    ) ||
      null);
  const listed = await context.db
    .insert(schema.listing)
    .values({
      id: a.listingId,
      provider: a.provider,
      category: a.category,
      contentHash: a.contentHash,
      metadataUri: a.metadataURI,
      unit: a.unit,
      pricePerUnit: a.pricePerUnit,
      royaltyRecipient: a.royaltyRecipient,
      royaltyBps: a.royaltyBps,
      bond: a.bond,
      status: 1,
      unbondingAt: 0n,
      escrowCount: 0,
      volume: 0n,
      ratingCount: 0,
      ratingTotal: 0,
      createdAt: event.block.timestamp,
      name: meta.name,
      vendor: meta.vendor,
      description: meta.description,
      metadata: meta.metadata,
      metadataError: meta.error,
      categoryName,
    })
    .onConflictDoNothing();
  if (listed) {
    const firstListing = await countFirst(context.db, a.provider, "listings");
    await bumpMarket(context.db, { listings: 1, activeListings: 1, providers: firstListing ? 1 : 0 });
  }
  await bumpDaily(context.db, event.block.timestamp, { newListings: 1 });
  await recordEvent(context.db, C, "Listed", event);
});

ponder.on("ModelMarketplace:PriceUpdated", async ({ event, context }) => {
  const { listingId, oldPrice, newPrice } = event.args;
  await context.db.update(schema.listing, { id: listingId }).set({ pricePerUnit: newPrice });
  await context.db
    .insert(schema.listingPrice)
    .values({ id: event.id, listingId, oldPrice, newPrice, timestamp: event.block.timestamp })
    .onConflictDoNothing();
  await recordEvent(context.db, C, "PriceUpdated", event);
});

ponder.on("ModelMarketplace:ListingStatusChanged", async ({ event, context }) => {
  const { listingId, status, unbondingAt } = event.args;
  // Read before the update: find() may hand back the cached row object that the update then changes in place.
  const before = await context.db.find(schema.listing, { id: listingId });
  const activeDelta = before ? (status === 1 ? 1 : 0) - (before.status === 1 ? 1 : 0) : 0;
  await context.db.update(schema.listing, { id: listingId }).set({ status, unbondingAt: BigInt(unbondingAt) });
  await bumpMarket(context.db, { activeListings: activeDelta });
  await recordEvent(context.db, C, "ListingStatusChanged", event);
});

ponder.on("ModelMarketplace:BondAdded", async ({ event, context }) => {
  await context.db.update(schema.listing, { id: event.args.listingId }).set({ bond: event.args.totalBond });
  await recordEvent(context.db, C, "BondAdded", event);
});

ponder.on("ModelMarketplace:BondWithdrawn", async ({ event, context }) => {
  await context.db.update(schema.listing, { id: event.args.listingId }).set((l) => ({ bond: l.bond - event.args.amount }));
  await recordEvent(context.db, C, "BondWithdrawn", event);
});

/** A dispute the provider lost slashed part of the listing's bond (to the treasury's payouts). */
ponder.on("ModelMarketplace:ProviderSlashed", async ({ event, context }) => {
  await context.db.update(schema.listing, { id: event.args.listingId }).set((l) => ({ bond: l.bond - event.args.amount }));
  await recordEvent(context.db, C, "ProviderSlashed", event);
});

ponder.on("ModelMarketplace:EscrowOpened", async ({ event, context }) => {
  const a = event.args;
  const opened = await context.db
    .insert(schema.escrow)
    .values({
      id: a.escrowId,
      listingId: a.listingId,
      renter: a.renter,
      provider: a.provider,
      deposit: a.deposit,
      spendCap: a.spendCap,
      pricePerUnit: a.pricePerUnit,
      expiresAt: BigInt(a.expiresAt),
      charged: 0n,
      refundedByDisputes: 0n,
      sequence: 0n,
      units: 0n,
      status: "open",
      refund: null,
      closedBy: null,
      openedAt: event.block.timestamp,
      closedAt: null,
    })
    .onConflictDoNothing();
  if (opened) {
    const firstEscrow = await countFirst(context.db, a.renter, "escrows");
    await bumpMarket(context.db, { escrows: 1, openEscrows: 1, renters: firstEscrow ? 1 : 0 });
  }
  await context.db.update(schema.listing, { id: a.listingId }).set((l) => ({ escrowCount: l.escrowCount + 1 }));
  await bumpDaily(context.db, event.block.timestamp, { escrowsOpened: 1 }, +1);
  await recordEvent(context.db, C, "EscrowOpened", event);
});

ponder.on("ModelMarketplace:UsageCharged", async ({ event, context }) => {
  const a = event.args;
  // Usage is ordered by cumulative units: `units` is what the escrow has accounted. Only attested charges carry
  // the provider's report number (receipt charges emit sequence 0), so `sequence` is the last attested report's.
  const escrow = await context.db.update(schema.escrow, { id: a.escrowId }).set((e) => ({
    charged: e.charged + a.amount,
    units: a.cumulativeUnits,
    sequence: a.attested ? BigInt(a.sequence) : e.sequence,
  }));
  const charged = await context.db
    .insert(schema.charge)
    .values({
      id: a.attested ? attestedChargeKey(a.chargeId) : event.id,
      chargeId: a.chargeId,
      escrowId: a.escrowId,
      listingId: escrow.listingId,
      sequence: BigInt(a.sequence),
      cumulativeUnits: a.cumulativeUnits,
      units: a.units,
      amount: a.amount,
      attested: a.attested,
      resultDigest: a.resultDigest,
      disputableUntil: BigInt(a.disputableUntil),
      status: a.attested ? "pending" : "settled",
      timestamp: event.block.timestamp,
      txHash: event.transaction.hash,
    })
    .onConflictDoNothing();
  if (a.attested) {
    await context.db
      .insert(schema.attestation)
      .values({
        id: event.id,
        escrowId: a.escrowId,
        chargeId: a.chargeId,
        sequence: BigInt(a.sequence),
        amount: a.amount,
        resultDigest: a.resultDigest,
        submitter: event.transaction.from,
        timestamp: event.block.timestamp,
      })
      .onConflictDoNothing();
  }
  await context.db.update(schema.listing, { id: escrow.listingId }).set((l) => ({ volume: l.volume + a.amount }));
  // Volume as daily_stat counts it (every charge event); charges as the table holds them (one row per new charge).
  await bumpMarket(context.db, { volume: a.amount, charges: charged ? 1 : 0 });
  await bumpDaily(context.db, event.block.timestamp, { volume: a.amount, chargeCount: 1 });
  await recordEvent(context.db, C, "UsageCharged", event);
});

ponder.on("ModelMarketplace:ChargeSettled", async ({ event, context }) => {
  const a = event.args;
  await context.db
    .insert(schema.payout)
    .values({
      id: event.id,
      escrowId: a.escrowId,
      chargeId: a.chargeId,
      provider: a.provider,
      providerAmount: a.providerAmount,
      treasury: a.treasury,
      fee: a.fee,
      royaltyRecipient: a.royaltyRecipient,
      royalty: a.royalty,
      timestamp: event.block.timestamp,
    })
    .onConflictDoNothing();
  if (a.chargeId !== 0n) {
    await context.db.update(schema.charge, { id: attestedChargeKey(a.chargeId) }).set({ status: "settled" });
  }
  await bumpMarket(context.db, { fees: a.fee });
  await bumpDaily(context.db, event.block.timestamp, { fees: a.fee });
  await recordEvent(context.db, C, "ChargeSettled", event);
});

ponder.on("ModelMarketplace:ChargeDisputed", async ({ event, context }) => {
  const { chargeId, escrowId, renter, bond, resolveBy } = event.args;
  await context.db
    .insert(schema.dispute)
    .values({
      chargeId, escrowId, renter, bond, resolveBy: BigInt(resolveBy), openedAt: event.block.timestamp, resolved: false,
      paidToProvider: null, byDefault: null, amount: null, resolver: null, resolvedAt: null,
    })
    .onConflictDoNothing();
  // A disputed batch entry has no row under its new charge id yet: BatchEntryDisputed (emitted next) moves it.
  if (await context.db.find(schema.charge, { id: attestedChargeKey(chargeId) })) {
    await context.db.update(schema.charge, { id: attestedChargeKey(chargeId) }).set({ status: "disputed" });
  }
  await recordEvent(context.db, C, "ChargeDisputed", event);
});

ponder.on("ModelMarketplace:DisputeResolved", async ({ event, context }) => {
  const { chargeId, escrowId, paidToProvider, amount, resolver, byDefault } = event.args;
  await context.db
    .update(schema.dispute, { chargeId })
    .set({ resolved: true, paidToProvider, byDefault, amount, resolver, resolvedAt: event.block.timestamp });
  if (!paidToProvider) {
    await context.db.update(schema.charge, { id: attestedChargeKey(chargeId) }).set({ status: "refunded" });
    // The contract gives the amount back to the escrow while it is open (it no longer counts against the cap and
    // is refunded with the deposit); once closed, it becomes the renter's payout instead and `charged` stays.
    await context.db.update(schema.escrow, { id: escrowId }).set((e) => ({
      refundedByDisputes: e.refundedByDisputes + amount,
      charged: e.status === "open" ? e.charged - amount : e.charged,
    }));
  }
  await recordEvent(context.db, C, "DisputeResolved", event);
});

/**
 * One committee attestation settled many escrows: each applied word is an escrow's new cumulative units and the
 * amount charged. The amounts wait in the batch's per-listing shares until released after the dispute window.
 */
ponder.on("ModelMarketplace:UsageBatchCharged", async ({ event, context }) => {
  const { batchId, disputableUntil, applied } = event.args;
  let volume = 0n;
  let inserted = 0;
  for (const [index, word] of applied.entries()) {
    const a = decodeApplied(word);
    const before = await context.db.find(schema.escrow, { id: a.escrowId });
    if (!before) continue;
    await context.db.update(schema.escrow, { id: a.escrowId }).set({ charged: before.charged + a.amount, units: a.cumulativeUnits });
    const entry = await context.db
      .insert(schema.charge)
      .values({
        id: batchEntryKey(batchId, index),
        chargeId: 0n,
        escrowId: a.escrowId,
        listingId: before.listingId,
        sequence: 0n,
        cumulativeUnits: a.cumulativeUnits,
        units: a.cumulativeUnits - before.units,
        amount: a.amount,
        attested: true,
        resultDigest: "0x0000000000000000000000000000000000000000000000000000000000000000",
        disputableUntil,
        status: "pending",
        timestamp: event.block.timestamp,
        txHash: event.transaction.hash,
        batchId,
        batchIndex: index,
      })
      .onConflictDoNothing();
    await context.db.update(schema.listing, { id: before.listingId }).set((l) => ({ volume: l.volume + a.amount }));
    volume += a.amount;
    if (entry) inserted++;
  }
  await bumpMarket(context.db, { volume, charges: inserted });
  if (applied.length > 0) await bumpDaily(context.db, event.block.timestamp, { volume, chargeCount: applied.length });
  await recordEvent(context.db, C, "UsageBatchCharged", event);
});

/** A listing's share of a batch was paid out: its entries still pending are settled. */
ponder.on("ModelMarketplace:BatchShareReleased", async ({ event, context }) => {
  const a = event.args;
  await context.db
    .insert(schema.payout)
    .values({
      id: event.id,
      escrowId: 0n,
      chargeId: 0n,
      provider: a.provider,
      providerAmount: a.providerAmount,
      // The event does not name the fee's recipient: the treasury at that block did receive it.
      treasury: await context.client.readContract({
        abi: context.contracts.ModelMarketplace.abi,
        address: event.log.address,
        functionName: "treasury",
        blockNumber: event.block.number,
      }),
      fee: a.fee,
      royaltyRecipient: a.royaltyRecipient,
      royalty: a.royalty,
      timestamp: event.block.timestamp,
    })
    .onConflictDoNothing();
  await bumpMarket(context.db, { fees: a.fee });
  await context.db.sql
    .update(schema.charge)
    .set({ status: "settled" })
    .where(and(eq(schema.charge.batchId, a.batchId), eq(schema.charge.listingId, a.listingId), eq(schema.charge.status, "pending")));
  await bumpDaily(context.db, event.block.timestamp, { fees: a.fee });
  await recordEvent(context.db, C, "BatchShareReleased", event);
});

/** A renter disputed one batch entry: it becomes a contract charge (DisputeResolved and ChargeSettled name it). */
ponder.on("ModelMarketplace:BatchEntryDisputed", async ({ event, context }) => {
  const { batchId, index, chargeId } = event.args;
  const entry = await context.db.find(schema.charge, { id: batchEntryKey(batchId, Number(index)) });
  if (entry) {
    await context.db.delete(schema.charge, { id: entry.id });
    const moved = await context.db
      .insert(schema.charge)
      .values({ ...entry, id: attestedChargeKey(chargeId), chargeId, status: "disputed" })
      .onConflictDoNothing();
    if (!moved) await bumpMarket(context.db, { charges: -1 }); // the row was removed and none took its place
  }
  await recordEvent(context.db, C, "BatchEntryDisputed", event);
});

ponder.on("ModelMarketplace:EscrowClosed", async ({ event, context }) => {
  const { escrowId, closedBy, refund } = event.args;
  // Before the update (see ListingStatusChanged): only a close of an open escrow moves the count.
  const before = await context.db.find(schema.escrow, { id: escrowId });
  if (before?.status === "open") await bumpMarket(context.db, { openEscrows: -1 });
  await context.db
    .update(schema.escrow, { id: escrowId })
    .set({ status: "closed", closedBy, refund, closedAt: event.block.timestamp });
  await bumpDaily(context.db, event.block.timestamp, { escrowsClosed: 1 }, -1);
  await recordEvent(context.db, C, "EscrowClosed", event);
});

ponder.on("ModelMarketplace:Rated", async ({ event, context }) => {
  const { escrowId, listingId, renter, score } = event.args;
  await context.db
    .insert(schema.rating)
    .values({ escrowId, listingId, renter, score, timestamp: event.block.timestamp })
    .onConflictDoNothing();
  await context.db
    .update(schema.listing, { id: listingId })
    .set((l) => ({ ratingCount: l.ratingCount + 1, ratingTotal: l.ratingTotal + score }));
  await recordEvent(context.db, C, "Rated", event);
});

ponder.on("ModelMarketplace:Withdrawn", async ({ event, context }) => {
  await context.db
    .insert(schema.withdrawal)
    .values({ id: event.id, account: event.args.account, amount: event.args.amount, timestamp: event.block.timestamp })
    .onConflictDoNothing();
  await recordEvent(context.db, C, "Withdrawn", event);
});

/** One row per (escrow, key): `${escrowId}-${key}` (a key is authorized at most once per escrow). */
const sessionKeyId = (escrowId: bigint, key: string) => `${escrowId}-${key.toLowerCase()}`;

ponder.on("ModelMarketplace:SessionKeyAuthorized", async ({ event, context }) => {
  const { escrowId, key } = event.args;
  await context.db
    .insert(schema.sessionKey)
    .values({ id: sessionKeyId(escrowId, key), escrowId, key, authorizedAt: event.block.timestamp })
    .onConflictDoNothing();
  await recordEvent(context.db, C, "SessionKeyAuthorized", event);
});

ponder.on("ModelMarketplace:SessionKeyRevoked", async ({ event, context }) => {
  const { escrowId, key, revokedAt } = event.args;
  await context.db.update(schema.sessionKey, { id: sessionKeyId(escrowId, key) }).set({ revokedAt: BigInt(revokedAt) });
  await recordEvent(context.db, C, "SessionKeyRevoked", event);
});

for (const name of [
  "ProtocolFeeUpdated", "TreasuryUpdated", "MinProviderBondUpdated", "DisputeWindowUpdated",
  "UnbondingDelayUpdated", "SettlementGraceUpdated", "AttestationVerifierUpdated", "RoleGranted", "RoleRevoked",
  "RoleAdminChanged", "Upgraded", "Initialized", "EIP712DomainChanged", "TermsUpdated", "MinEscrowDepositUpdated",
  "MaxEscrowDurationUpdated", "DisputeBondPaid", "BatchEntrySkipped",
] as const) {
  ponder.on(`ModelMarketplace:${name}`, async ({ event, context }) => recordEvent(context.db, C, name, event));
}
