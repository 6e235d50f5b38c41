/**
 * Batched settlement (IMarketplaceBatches, served by the marketplace proxy through MarketplaceBatchModule): a batch
 * applies what chargeWithAttestation would charge and skips the rest, holds the amounts per (batch, listing) share
 * until the batch's window ends, and turns a disputed entry into an ordinary disputed charge. The encoding is the
 * workers' own (workers/shared/batch.ts). Marketplace logic runs against a test verifier; the last part settles
 * through the real committee.
 */
import { expect } from "chai";
import { deployments, ethers } from "hardhat";
import { time } from "@nomicfoundation/hardhat-network-helpers";
import { anyValue } from "@nomicfoundation/hardhat-chai-matchers/withArgs";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import { HDNodeWallet } from "ethers";
import { privateKeyToAccount } from "viem/accounts";
import type { Hex } from "viem";
import { parametersFor } from "../../config/parameters";
import { signBatch } from "../../workers/shared/batch";
import { deployProtocol, ftns, impersonate } from "../support/fixtures";
import {
  appliedOf,
  attestBatch,
  batchesAt,
  committeeDomain,
  DIGEST_OF,
  encodeApplied,
  encodeEntries,
  entriesHash,
  SkipReason,
  type BatchEntry,
} from "../support/batches";
import { encodeAttestation } from "../support/committee";

const LOCAL = parametersFor("hardhat").marketplace;
const WINDOW = BigInt(LOCAL.disputeWindow); // 300 s
const GRACE = LOCAL.settlementGrace; // 60 s
const BOND = LOCAL.disputeBond; // 1 FTNS
const RESOLUTION = BigInt(LOCAL.disputeResolutionPeriod); // 600 s
const SLASH_BPS = BigInt(LOCAL.disputeSlashBps); // 500
const FEE_BPS = 250n;
const ROYALTY_BPS = 500n;
const PRICE = ftns(2);
const ChargeStatus = { Pending: 1n, Disputed: 2n, Released: 3n, Refunded: 4n };

const ceilFee = (amount: bigint, bps = FEE_BPS) => (amount * bps + 9_999n) / 10_000n;
const entry = (escrowId: bigint, cumulativeUnits: bigint, sequence = 1n): BatchEntry => ({
  escrowId,
  sequence,
  cumulativeUnits,
  resultDigest: DIGEST_OF(escrowId * 1_000n + sequence),
});

/**
 * Deployed protocol (local profile) with a test verifier, a listing at 2 FTNS per unit with a 5% creator royalty, a
 * second listing by another provider (no royalty), and funded renters who approved the marketplace for everything.
 */
const batchFixture = deployments.createFixture(async () => {
  const protocol = await deployProtocol();
  const { token, timelock, marketplace, users } = protocol;
  const [renter, renter2, provider, creator, outsider, provider2] = users;
  const treasury = await impersonate(await timelock.getAddress());
  for (const account of [renter, renter2, provider, provider2]) {
    await token.connect(treasury).transfer(account.address, ftns(10_000));
    await token.connect(account).approve(await marketplace.getAddress(), ethers.MaxUint256);
  }
  const verifier = await (await ethers.getContractFactory("MockAttestationVerifier")).deploy();
  await marketplace.connect(treasury).setAttestationVerifier(await verifier.getAddress());
  await marketplace.connect(provider).list(ethers.id("a"), "ipfs://a", 0, 0, PRICE, creator.address, Number(ROYALTY_BPS), ftns(100));
  const listingId = await marketplace.listingCount();
  await marketplace.connect(provider2).list(ethers.id("b"), "ipfs://b", 0, 0, ftns(1), ethers.ZeroAddress, 0, ftns(100));
  const listing2 = await marketplace.listingCount();
  const batches = await batchesAt(marketplace);
  return { ...protocol, treasury, renter, renter2, provider, provider2, creator, outsider, verifier, listingId, listing2, batches };
});

type Fixture = Awaited<ReturnType<typeof batchFixture>>;

async function openEscrow(f: Fixture, opts: { renter?: HardhatEthersSigner; listingId?: bigint; deposit?: bigint; cap?: bigint; duration?: number } = {}) {
  const listingId = opts.listingId ?? f.listingId;
  const deposit = opts.deposit ?? ftns(100);
  const { pricePerUnit } = await f.marketplace.getListing(listingId);
  await f.marketplace
    .connect(opts.renter ?? f.renter)
    .openEscrow(listingId, deposit, opts.cap ?? deposit, (await time.latest()) + (opts.duration ?? 3600), pricePerUnit);
  return f.marketplace.escrowCount();
}

/** Approves the batch with the test verifier and submits it (anyone may). */
async function submit(f: Fixture, entries: BatchEntry[], submitter: HardhatEthersSigner = f.outsider) {
  const words = encodeEntries(entries);
  await f.verifier.approveBatch(entriesHash(words));
  return f.batches.connect(submitter).chargeBatchWithAttestation(words, "0x");
}

async function pin(ahead = 5): Promise<bigint> {
  const at = (await time.latest()) + ahead;
  await time.setNextBlockTimestamp(at);
  return BigInt(at);
}

/** The timestamp of the block a transaction was mined in. */
async function minedAt(tx: { wait(): Promise<unknown> }): Promise<bigint> {
  const receipt = (await tx.wait()) as { blockNumber: number };
  return BigInt((await ethers.provider.getBlock(receipt.blockNumber))!.timestamp);
}

/** Two escrows on the royalty listing and one on the other, charged in one batch. */
async function appliedBatch(f: Fixture) {
  const a = await openEscrow(f);
  const b = await openEscrow(f, { renter: f.renter2 });
  const c = await openEscrow(f, { listingId: f.listing2 });
  const tx = await submit(f, [entry(a, 10n), entry(b, 3n), entry(c, 7n)]);
  const result = await appliedOf(f.batches, tx);
  return { a, b, c, at: await minedAt(tx), tx, ...result };
}

describe("Batched settlement", () => {
  describe("the module behind the marketplace", () => {
    it("is reached through the proxy, with its ABI merged into the saved deployment", async () => {
      const f = await batchFixture();
      const module = await f.marketplace.batchModule();
      expect(module).to.equal((await deployments.get("MarketplaceBatchModule")).address);
      const saved = (await deployments.get("ModelMarketplace")).abi as { type: string; name?: string }[];
      const names = saved.filter((i) => i.type !== "constructor").map((i) => `${i.type}:${i.name}`);
      for (const name of ["function:chargeBatchWithAttestation", "function:releaseBatchShares", "function:disputeBatchEntry",
        "function:getEscrows", "function:getBatch", "function:getBatchShare", "function:batchCount", "event:UsageBatchCharged",
        "event:BatchEntrySkipped", "event:BatchShareReleased", "event:BatchEntryDisputed", "error:InvalidBatch",
        "error:BatchDisputeWindowClosed", "function:withdraw", "event:UsageCharged"]) {
        expect(names, name).to.include(name);
      }
      expect(new Set(names).size, "no item twice").to.equal(names.length);
      expect(await f.batches.MAX_BATCH_ENTRIES()).to.equal(256n);
      expect(await f.batches.batchCount()).to.equal(0n);
    });

    it("has no selector in common with the implementation (the implementation's would shadow it)", async () => {
      const implementation = (await ethers.getContractFactory("ModelMarketplace")).interface;
      const module = (await ethers.getContractFactory("MarketplaceBatchModule")).interface;
      module.forEachFunction((fn) => expect(implementation.getFunction(fn.selector), fn.name).to.equal(null));
    });

    it("settles nothing when called directly: its own storage has no verifier", async () => {
      const f = await batchFixture();
      const module = await ethers.getContractAt("MarketplaceBatchModule", await f.marketplace.batchModule());
      const words = encodeEntries([entry(1n, 1n)]);
      await expect(module.chargeBatchWithAttestation(words, "0x")).to.be.revertedWithCustomError(f.marketplace, "AttestationVerifierNotSet");
    });

    it("keeps the marketplace's own functions and unknown selectors working through the fallback", async () => {
      const f = await batchFixture();
      expect(await f.marketplace.listingCount()).to.equal(f.listing2);
      await expect(f.outsider.sendTransaction({ to: await f.marketplace.getAddress(), data: "0x12345678" })).to.be.reverted;
    });
  });

  describe("chargeBatchWithAttestation", () => {
    it("charges every entry, holds the amounts per listing and records the applied words", async () => {
      const f = await batchFixture();
      const { a, b, c, at, tx, batchId, words, disputableUntil } = await appliedBatch(f);
      expect(batchId).to.equal(1n);
      expect(await f.batches.batchCount()).to.equal(1n);
      const expected = [
        encodeApplied({ escrowId: a, cumulativeUnits: 10n, amount: 10n * PRICE }),
        encodeApplied({ escrowId: b, cumulativeUnits: 3n, amount: 3n * PRICE }),
        encodeApplied({ escrowId: c, cumulativeUnits: 7n, amount: 7n * ftns(1) }),
      ];
      expect(words).to.deep.equal(expected);
      expect(disputableUntil).to.equal(at + WINDOW);
      await expect(tx).to.emit(f.batches, "UsageBatchCharged").withArgs(1n, at + WINDOW, expected);
      await expect(tx).to.not.emit(f.batches, "BatchEntrySkipped");

      // The escrow's charged amount and units (one slot), its deposit untouched.
      for (const [id, units, amount] of [[a, 10n, 10n * PRICE], [b, 3n, 3n * PRICE], [c, 7n, 7n * ftns(1)]] as const) {
        const e = await f.marketplace.getEscrow(id);
        expect([e.units, e.charged, e.deposit, e.spendCap, e.status]).to.deep.equal([units, amount, ftns(100), ftns(100), 1n]);
      }
      const record = await f.batches.getBatch(1n);
      expect(record.disputableUntil).to.equal(at + WINDOW);
      expect(record.appliedHash).to.equal(entriesHash(expected as Hex[]).slice(0, 2 + 52));
      const share = await f.batches.getBatchShare(1n, f.listingId);
      expect([share.amount, share.fee]).to.deep.equal([13n * PRICE, ceilFee(10n * PRICE) + ceilFee(3n * PRICE)]);
      const share2 = await f.batches.getBatchShare(1n, f.listing2);
      expect([share2.amount, share2.fee]).to.deep.equal([7n * ftns(1), ceilFee(7n * ftns(1))]);
      // One unresolved charge per share: the provider's bond stays while the batch could be disputed.
      expect((await f.marketplace.getListing(f.listingId)).unresolvedCharges).to.equal(1n);
      expect((await f.marketplace.getListing(f.listing2)).unresolvedCharges).to.equal(1n);
      // Nothing is paid yet.
      expect(await f.marketplace.payoutOf(f.provider.address)).to.equal(0n);
    });

    it("returns the batch id and lets anyone submit", async () => {
      const f = await batchFixture();
      const id = await openEscrow(f);
      const words = encodeEntries([entry(id, 1n)]);
      await f.verifier.approveBatch(entriesHash(words));
      expect(await f.batches.connect(f.provider).chargeBatchWithAttestation.staticCall(words, "0x")).to.equal(1n);
      await f.batches.connect(f.renter2).chargeBatchWithAttestation(words, "0x");
      expect((await f.marketplace.getEscrow(id)).units).to.equal(1n);
    });

    it("charges the same escrow twice in one batch for rising units, and rounds the fee up per entry", async () => {
      const f = await batchFixture();
      const id = await openEscrow(f, { listingId: f.listing2 });
      await f.marketplace.connect(f.treasury).setProtocolFee(1_000); // for escrows opened from now
      const cheap = await openEscrow(f, { listingId: f.listing2 });
      const { words } = await appliedOf(f.batches, await submit(f, [entry(id, 1n), entry(cheap, 1n), entry(id, 4n, 2n)]));
      expect(words).to.have.length(3);
      expect((await f.marketplace.getEscrow(id)).units).to.equal(4n);
      const share = await f.batches.getBatchShare(1n, f.listing2);
      // Two runs of the same listing add up in one share; each entry's fee at its escrow's terms.
      expect(share.amount).to.equal(5n * ftns(1));
      expect(share.fee).to.equal(ceilFee(ftns(1)) + ceilFee(ftns(1), 1_000n) + ceilFee(3n * ftns(1)));
      expect((await f.marketplace.getListing(f.listing2)).unresolvedCharges).to.equal(1n);
    });

    it("holds a batch for the longest dispute window among the applied entries' terms", async () => {
      const f = await batchFixture();
      const short = await openEscrow(f);
      await f.marketplace.connect(f.treasury).setDisputeWindow(900);
      const long = await openEscrow(f);
      await f.marketplace.connect(f.treasury).setDisputeWindow(1_200);
      const longest = await openEscrow(f);
      await f.marketplace.connect(f.provider).closeEscrowByProvider(longest);
      // The escrow with the longest window is skipped: its window does not count.
      let tx = await submit(f, [entry(short, 1n), entry(long, 1n), entry(longest, 1n)]);
      expect((await appliedOf(f.batches, tx)).disputableUntil).to.equal((await minedAt(tx)) + 900n);
      tx = await submit(f, [entry(short, 2n)]);
      expect((await appliedOf(f.batches, tx)).disputableUntil).to.equal((await minedAt(tx)) + WINDOW);
    });

    it("counts a dispute window of 0: the batch is releasable right after its block", async () => {
      const f = await batchFixture();
      await f.marketplace.connect(f.treasury).setDisputeWindow(0);
      const id = await openEscrow(f);
      const tx = await submit(f, [entry(id, 1n)]);
      expect((await appliedOf(f.batches, tx)).disputableUntil).to.equal(await minedAt(tx));
      await f.batches.releaseBatchShares(1n, [f.listingId]);
    });

    it("refuses an empty batch, an odd number of words and more than 256 entries", async () => {
      const f = await batchFixture();
      const one = encodeEntries([entry(1n, 1n)]);
      await expect(f.batches.chargeBatchWithAttestation([], "0x")).to.be.revertedWithCustomError(f.batches, "InvalidBatch").withArgs(0);
      await expect(f.batches.chargeBatchWithAttestation([one[0]], "0x")).to.be.revertedWithCustomError(f.batches, "InvalidBatch").withArgs(1);
      const tooMany = encodeEntries(Array.from({ length: 257 }, (_, i) => entry(BigInt(i + 1), 1n)));
      await expect(f.batches.chargeBatchWithAttestation(tooMany, "0x")).to.be.revertedWithCustomError(f.batches, "InvalidBatch").withArgs(514);
      const max = encodeEntries(Array.from({ length: 256 }, (_, i) => entry(BigInt(i + 1), 1n)));
      await f.verifier.approveBatch(entriesHash(max));
      await f.batches.chargeBatchWithAttestation(max, "0x"); // every entry skipped (no such escrows), no revert
    });

    it("refuses a batch the verifier does not accept, and any batch without a verifier", async () => {
      const f = await batchFixture();
      const id = await openEscrow(f);
      const words = encodeEntries([entry(id, 1n)]);
      await expect(f.batches.chargeBatchWithAttestation(words, "0x"))
        .to.be.revertedWithCustomError(f.verifier, "MockBatchRejected").withArgs(entriesHash(words));
      await f.verifier.approveBatch(entriesHash(words));
      await f.marketplace.connect(f.treasury).setAttestationVerifier(ethers.ZeroAddress);
      await expect(f.batches.chargeBatchWithAttestation(words, "0x")).to.be.revertedWithCustomError(f.marketplace, "AttestationVerifierNotSet");
      expect((await f.marketplace.getEscrow(id)).units).to.equal(0n);
    });

    it("skips what chargeWithAttestation would refuse, without reverting the batch", async () => {
      const f = await batchFixture();
      const closed = await openEscrow(f);
      await f.marketplace.connect(f.provider).closeEscrowByProvider(closed);
      const expired = await openEscrow(f, { duration: 100 });
      const overCap = await openEscrow(f, { deposit: ftns(10) }); // room for 5 units
      const charged = await openEscrow(f);
      await submit(f, [entry(charged, 5n)]);
      // A listing at 1 wei per unit: 2^64 units fit the spend cap but not uint64.
      await f.marketplace.connect(f.provider).list(ethers.id("cheap"), "", 0, 0, 1n, ethers.ZeroAddress, 0, ftns(100));
      const cheap = await openEscrow(f, { listingId: await f.marketplace.listingCount() });
      const good = await openEscrow(f);
      await time.increase(100 + GRACE + 1);

      const entries = [
        entry(closed, 1n), entry(0n, 1n), entry(999n, 1n), entry(expired, 1n), entry(overCap, 6n),
        entry(charged, 5n, 2n), entry(charged, 4n, 3n), entry(cheap, 2n ** 64n), entry(good, 2n),
      ];
      const tx = await submit(f, entries);
      const reasons = [SkipReason.NotOpen, SkipReason.NotOpen, SkipReason.NotOpen, SkipReason.SettlementPeriodOver,
        SkipReason.SpendCapExceeded, SkipReason.NoNewUsage, SkipReason.NoNewUsage, SkipReason.UnitsOutOfRange];
      for (const [index, reason] of reasons.entries()) {
        await expect(tx).to.emit(f.batches, "BatchEntrySkipped").withArgs(2n, index, entries[index].escrowId, reason);
      }
      const { words } = await appliedOf(f.batches, tx);
      expect(words).to.deep.equal([encodeApplied({ escrowId: good, cumulativeUnits: 2n, amount: 2n * PRICE })]);
      // Skipped escrows are untouched; an over-cap amount of exactly the room would have applied.
      expect((await f.marketplace.getEscrow(overCap)).units).to.equal(0n);
      expect((await f.marketplace.getEscrow(cheap)).units).to.equal(0n);
      expect((await f.marketplace.getEscrow(charged)).units).to.equal(5n);
      await submit(f, [entry(overCap, 5n)]);
      expect((await f.marketplace.getEscrow(overCap)).charged).to.equal(ftns(10));
      await submit(f, [entry(cheap, 2n ** 64n - 1n)]);
      expect((await f.marketplace.getEscrow(cheap)).units).to.equal(2n ** 64n - 1n);
    });

    it("applies nothing when the same batch is replayed: no record, an empty event", async () => {
      const f = await batchFixture();
      const id = await openEscrow(f);
      const entries = [entry(id, 3n)];
      await submit(f, entries);
      const replay = await submit(f, entries);
      await expect(replay).to.emit(f.batches, "BatchEntrySkipped").withArgs(2n, 0, id, SkipReason.NoNewUsage);
      await expect(replay).to.emit(f.batches, "UsageBatchCharged").withArgs(2n, 0, []);
      expect((await f.batches.getBatch(2n)).disputableUntil).to.equal(0n);
      expect((await f.marketplace.getEscrow(id)).charged).to.equal(3n * PRICE);
      await expect(f.batches.releaseBatchShares(2n, [f.listingId])).to.be.revertedWithCustomError(f.batches, "BatchNotFound").withArgs(2n);
    });

    it("shares the escrows' accounting with the single paths: a receipt after a batch charges only the new units", async () => {
      const f = await batchFixture();
      const id = await openEscrow(f);
      await submit(f, [entry(id, 4n)]);
      await f.verifier.approve(id, 4n, 2n, ethers.id("x"));
      await expect(f.marketplace.chargeWithAttestation(id, 4n, 2n, ethers.id("x"), "0x"))
        .to.be.revertedWithCustomError(f.marketplace, "NoNewUsage").withArgs(id, 4n, 4n);
      await f.verifier.approve(id, 6n, 2n, ethers.id("x"));
      await f.marketplace.chargeWithAttestation(id, 6n, 2n, ethers.id("x"), "0x");
      expect((await f.marketplace.getEscrow(id)).charged).to.equal(6n * PRICE);
      // Closing refunds the deposit minus everything charged, batch included.
      await f.marketplace.connect(f.provider).closeEscrowByProvider(id);
      await submit(f, [entry(id, 9n)]); // skipped: closed
      expect((await f.marketplace.getEscrow(id)).charged).to.equal(6n * PRICE);
    });

    it("reads many escrows in one call", async () => {
      const f = await batchFixture();
      const a = await openEscrow(f);
      const b = await openEscrow(f, { renter: f.renter2, listingId: f.listing2 });
      const escrows = await f.batches.getEscrows([a, b, 999n]);
      expect(escrows.map((e) => [e.renter, e.listingId])).to.deep.equal([
        [f.renter.address, f.listingId], [f.renter2.address, f.listing2], [ethers.ZeroAddress, 0n],
      ]);
    });
  });

  describe("releaseBatchShares", () => {
    it("pays provider, treasury and royalty exactly, once the window has passed, to anyone's call", async () => {
      const f = await batchFixture();
      const { disputableUntil } = await appliedBatch(f);
      await expect(f.batches.releaseBatchShares(1n, [f.listingId]))
        .to.be.revertedWithCustomError(f.batches, "BatchDisputeWindowOpen").withArgs(1n, disputableUntil);
      await time.setNextBlockTimestamp(disputableUntil); // the window's last second
      await expect(f.batches.releaseBatchShares(1n, [f.listingId])).to.be.revertedWithCustomError(f.batches, "BatchDisputeWindowOpen");
      const treasury = await f.timelock.getAddress();
      const before = await f.marketplace.payoutOf(treasury);
      const amount = 13n * PRICE;
      const fee = ceilFee(10n * PRICE) + ceilFee(3n * PRICE);
      const royalty = (amount * ROYALTY_BPS) / 10_000n;
      const amount2 = 7n * ftns(1);
      const fee2 = ceilFee(amount2);
      await expect(f.batches.connect(f.outsider).releaseBatchShares(1n, [f.listingId, f.listing2]))
        .to.emit(f.batches, "BatchShareReleased").withArgs(1n, f.listingId, f.provider.address, amount - fee - royalty, fee, f.creator.address, royalty)
        .and.to.emit(f.batches, "BatchShareReleased").withArgs(1n, f.listing2, f.provider2.address, amount2 - fee2, fee2, ethers.ZeroAddress, 0);
      expect(await f.marketplace.payoutOf(f.provider.address)).to.equal(amount - fee - royalty);
      expect(await f.marketplace.payoutOf(f.creator.address)).to.equal(royalty);
      expect(await f.marketplace.payoutOf(f.provider2.address)).to.equal(amount2 - fee2);
      expect(await f.marketplace.payoutOf(treasury)).to.equal(before + fee + fee2);
      expect((await f.batches.getBatchShare(1n, f.listingId)).amount).to.equal(0n);
      expect((await f.marketplace.getListing(f.listingId)).unresolvedCharges).to.equal(0n);
      expect((await f.marketplace.getListing(f.listing2)).unresolvedCharges).to.equal(0n);
      // Once only.
      await expect(f.batches.releaseBatchShares(1n, [f.listingId]))
        .to.be.revertedWithCustomError(f.batches, "BatchShareNotFound").withArgs(1n, f.listingId);
    });

    it("refuses an unknown batch and a listing without a share, releasing nothing of the call", async () => {
      const f = await batchFixture();
      const { disputableUntil } = await appliedBatch(f);
      await time.increaseTo(disputableUntil + 1n);
      await expect(f.batches.releaseBatchShares(9n, [f.listingId])).to.be.revertedWithCustomError(f.batches, "BatchNotFound").withArgs(9n);
      await expect(f.batches.releaseBatchShares(1n, [f.listingId, 1n]))
        .to.be.revertedWithCustomError(f.batches, "BatchShareNotFound").withArgs(1n, 1n);
      expect((await f.batches.getBatchShare(1n, f.listingId)).amount).to.equal(13n * PRICE);
    });

    it("lets the royalty yield when fees rounded up per entry leave less than it", async () => {
      const f = await batchFixture();
      await f.marketplace.connect(f.provider).list(ethers.id("tiny"), "", 0, 0, 1n, f.creator.address, 1_000, ftns(100));
      const listingId = await f.marketplace.listingCount();
      const ids = [];
      for (let i = 0; i < 12; i++) ids.push(await openEscrow(f, { listingId }));
      // 12 entries of 1 wei: each fee rounds up to 1 wei, the whole amount.
      const { disputableUntil } = await appliedOf(f.batches, await submit(f, ids.map((id) => entry(id, 1n))));
      expect(await f.batches.getBatchShare(1n, listingId)).to.deep.equal([12n, 12n]);
      await time.increaseTo(disputableUntil + 1n);
      await expect(f.batches.releaseBatchShares(1n, [listingId]))
        .to.emit(f.batches, "BatchShareReleased").withArgs(1n, listingId, f.provider.address, 0, 12n, ethers.ZeroAddress, 0);
    });

    it("keeps the provider's bond locked while a share is unreleased", async () => {
      const f = await batchFixture();
      const { disputableUntil, a, b } = await appliedBatch(f);
      await f.marketplace.connect(f.provider).closeEscrowByProvider(a);
      await f.marketplace.connect(f.provider).closeEscrowByProvider(b);
      await f.marketplace.connect(f.provider).delist(f.listingId);
      await time.increaseTo(disputableUntil + 1_000n);
      await expect(f.marketplace.connect(f.provider).withdrawBond(f.listingId)).to.be.revertedWithCustomError(f.marketplace, "BondLocked");
      await f.batches.releaseBatchShares(1n, [f.listingId]);
      await f.marketplace.connect(f.provider).withdrawBond(f.listingId);
    });
  });

  describe("disputeBatchEntry", () => {
    it("turns the renter's entry into a disputed charge: the bond is pulled and the share shrinks", async () => {
      const f = await batchFixture();
      const { a, words } = await appliedBatch(f);
      const renterBefore = await f.token.balanceOf(f.renter.address);
      const at = await pin();
      const tx = f.batches.connect(f.renter).disputeBatchEntry(1n, words, 0);
      await expect(tx).to.emit(f.marketplace, "ChargeDisputed").withArgs(1n, a, f.renter.address, BOND, at + RESOLUTION)
        .and.to.emit(f.batches, "BatchEntryDisputed").withArgs(1n, 0, 1n);
      expect(await f.token.balanceOf(f.renter.address)).to.equal(renterBefore - BOND);
      const charge = await f.marketplace.getCharge(1n);
      expect([charge.escrowId, charge.amount, charge.status, charge.resolveBy]).to.deep.equal([a, 10n * PRICE, ChargeStatus.Disputed, at + RESOLUTION]);
      expect(charge.disputableUntil).to.equal((await f.batches.getBatch(1n)).disputableUntil);
      expect(await f.batches.batchEntryCharge(1n, 0)).to.equal(1n);
      const share = await f.batches.getBatchShare(1n, f.listingId);
      expect([share.amount, share.fee]).to.deep.equal([3n * PRICE, ceilFee(3n * PRICE)]);
      // The share and the disputed charge each hold the bond.
      expect((await f.marketplace.getListing(f.listingId)).unresolvedCharges).to.equal(2n);
      await expect(f.batches.connect(f.renter).disputeBatchEntry(1n, words, 0))
        .to.be.revertedWithCustomError(f.batches, "BatchEntryAlreadyDisputed").withArgs(1n, 0);
    });

    it("lets only the entry's renter dispute, only with the batch's words, only before the window closes", async () => {
      const f = await batchFixture();
      const { a, b, words, disputableUntil } = await appliedBatch(f);
      for (const who of [f.outsider, f.provider, f.renter2]) {
        await expect(f.batches.connect(who).disputeBatchEntry(1n, words, 0))
          .to.be.revertedWithCustomError(f.marketplace, "NotEscrowRenter").withArgs(a, who.address);
      }
      await expect(f.batches.connect(f.renter).disputeBatchEntry(1n, words, 1))
        .to.be.revertedWithCustomError(f.marketplace, "NotEscrowRenter").withArgs(b, f.renter.address);
      const forged = [...words];
      forged[0] = encodeApplied({ escrowId: a, cumulativeUnits: 10n, amount: 1n });
      await expect(f.batches.connect(f.renter).disputeBatchEntry(1n, forged, 0)).to.be.revertedWithCustomError(f.batches, "AppliedMismatch").withArgs(1n);
      await expect(f.batches.connect(f.renter).disputeBatchEntry(1n, words.slice(0, 2), 0)).to.be.revertedWithCustomError(f.batches, "AppliedMismatch");
      await expect(f.batches.connect(f.renter).disputeBatchEntry(1n, words, 3))
        .to.be.revertedWithCustomError(f.batches, "BatchIndexOutOfRange").withArgs(3, 3);
      await expect(f.batches.connect(f.renter).disputeBatchEntry(7n, words, 0)).to.be.revertedWithCustomError(f.batches, "BatchNotFound").withArgs(7n);
      await time.setNextBlockTimestamp(disputableUntil);
      await f.batches.connect(f.renter2).disputeBatchEntry(1n, words, 1); // the window's last second
      await expect(f.batches.connect(f.renter).disputeBatchEntry(1n, words, 0))
        .to.be.revertedWithCustomError(f.batches, "BatchDisputeWindowClosed").withArgs(1n, disputableUntil);
    });

    it("needs the bond's allowance", async () => {
      const f = await batchFixture();
      const { words } = await appliedBatch(f);
      await f.token.connect(f.renter).approve(await f.marketplace.getAddress(), 0);
      await expect(f.batches.connect(f.renter).disputeBatchEntry(1n, words, 0)).to.be.revertedWithCustomError(f.token, "ERC20InsufficientAllowance");
    });

    it("refunded: the amount returns under the cap, the bond to the renter, the listing bond is slashed as disputeCharge does", async () => {
      const f = await batchFixture();
      const { a, words, disputableUntil } = await appliedBatch(f);
      await f.batches.connect(f.renter).disputeBatchEntry(1n, words, 0);
      const listingBond = (await f.marketplace.getListing(f.listingId)).bond;
      const treasury = await f.timelock.getAddress();
      const treasuryBefore = await f.marketplace.payoutOf(treasury);
      const slash = (listingBond * SLASH_BPS) / 10_000n;
      await expect(f.marketplace.connect(f.treasury).resolveDispute(1n, false))
        .to.emit(f.marketplace, "DisputeResolved").withArgs(1n, a, false, 10n * PRICE, treasury, false)
        .and.to.emit(f.marketplace, "ProviderSlashed").withArgs(f.listingId, 1n, slash, listingBond - slash);
      const e = await f.marketplace.getEscrow(a);
      expect([e.charged, e.units]).to.deep.equal([0n, 10n]); // the units stay accounted: never billed again
      expect(await f.marketplace.payoutOf(f.renter.address)).to.equal(BOND);
      expect(await f.marketplace.payoutOf(treasury)).to.equal(treasuryBefore + slash);
      expect((await f.marketplace.getCharge(1n)).status).to.equal(ChargeStatus.Refunded);
      // The rest of the share pays out as usual; the listing's counter ends at zero.
      await time.increaseTo(disputableUntil + 1n);
      await f.batches.releaseBatchShares(1n, [f.listingId, f.listing2]);
      expect((await f.marketplace.getListing(f.listingId)).unresolvedCharges).to.equal(0n);
      const amount = 3n * PRICE;
      expect(await f.marketplace.payoutOf(f.provider.address)).to.equal(amount - ceilFee(amount) - (amount * ROYALTY_BPS) / 10_000n);
    });

    it("upheld or expired: the entry is paid as a charge, the bond goes to the provider", async () => {
      const f = await batchFixture();
      const { a, b, words } = await appliedBatch(f);
      await f.batches.connect(f.renter).disputeBatchEntry(1n, words, 0);
      await f.batches.connect(f.renter2).disputeBatchEntry(1n, words, 1);
      const amount = 10n * PRICE;
      await expect(f.marketplace.connect(f.treasury).resolveDispute(1n, true))
        .to.emit(f.marketplace, "ChargeSettled").withArgs(a, 1n, f.provider.address, amount - ceilFee(amount) - (amount * ROYALTY_BPS) / 10_000n, anyValue, ceilFee(amount), f.creator.address, (amount * ROYALTY_BPS) / 10_000n)
        .and.to.emit(f.marketplace, "DisputeBondPaid").withArgs(1n, f.provider.address, BOND);
      await time.increase(Number(RESOLUTION) + 1);
      await expect(f.marketplace.connect(f.outsider).resolveExpiredDispute(2n))
        .to.emit(f.marketplace, "DisputeResolved").withArgs(2n, b, true, 3n * PRICE, f.outsider.address, true);
      // Both entries left the share: it is gone, and its count went with the last one.
      expect((await f.batches.getBatchShare(1n, f.listingId)).amount).to.equal(0n);
      expect((await f.marketplace.getListing(f.listingId)).unresolvedCharges).to.equal(0n);
      await expect(f.batches.releaseBatchShares(1n, [f.listingId])).to.be.revertedWithCustomError(f.batches, "BatchShareNotFound");
    });

    it("after the escrow closed, a refund is the renter's payout", async () => {
      const f = await batchFixture();
      const { a, words } = await appliedBatch(f);
      await f.batches.connect(f.renter).disputeBatchEntry(1n, words, 0);
      const before = await f.token.balanceOf(f.renter.address);
      await f.marketplace.connect(f.provider).closeEscrowByProvider(a);
      expect(await f.token.balanceOf(f.renter.address)).to.equal(before + ftns(100) - 10n * PRICE);
      await f.marketplace.connect(f.treasury).resolveDispute(1n, false);
      expect(await f.marketplace.payoutOf(f.renter.address)).to.equal(10n * PRICE + BOND);
    });
  });

  describe("through the federation committee", () => {
    /** The real committee as verifier (the deployment's), its four local nodes, and escrows on launch listing 1. */
    const committeeFixture = deployments.createFixture(async () => {
      const protocol = await deployProtocol();
      const { token, timelock, marketplace, users } = protocol;
      const [renter] = users;
      const treasury = await impersonate(await timelock.getAddress());
      await token.connect(treasury).transfer(renter.address, ftns(10_000));
      await token.connect(renter).approve(await marketplace.getAddress(), ethers.MaxUint256);
      const committee = await ethers.getContractAt("FederationCommittee", await marketplace.attestationVerifier());
      const nodes = (await ethers.getSigners()).slice(14, 18);
      const { pricePerUnit } = await marketplace.getListing(1);
      const ids: bigint[] = [];
      for (let i = 0; i < 3; i++) {
        await marketplace.connect(renter).openEscrow(1, ftns(100), ftns(100), (await time.latest()) + 3600, pricePerUnit);
        ids.push(await marketplace.escrowCount());
      }
      return { ...protocol, treasury, renter, committee, nodes, ids, batches: await batchesAt(marketplace), pricePerUnit };
    });

    it("settles a batch attested by 3 of 4 members", async () => {
      const f = await committeeFixture();
      const entries = f.ids.map((id, i) => entry(id, BigInt(100 * (i + 1))));
      const { words, bytes } = await attestBatch(f.committee, f.nodes.slice(1, 4), await f.marketplace.getAddress(), entries);
      const { words: applied } = await appliedOf(f.batches, await f.batches.chargeBatchWithAttestation(words, bytes));
      expect(applied).to.have.length(3);
      expect((await f.marketplace.getEscrow(f.ids[2])).charged).to.equal(300n * f.pricePerUnit);
    });

    it("accepts the consensus nodes' own signatures (workers/shared/batch.ts signBatch)", async () => {
      const f = await committeeFixture();
      const market = await f.marketplace.getAddress();
      const words = encodeEntries(f.ids.map((id) => entry(id, 50n)));
      const epoch = await f.committee.currentEpoch();
      const members = [...(await f.committee.currentMembers())];
      const domain = await committeeDomain(f.committee);
      const viemDomain = { ...domain, chainId: Number(domain.chainId), verifyingContract: domain.verifyingContract as Hex };
      const signatures: [string, string][] = [];
      for (let i = 0; i < 3; i++) {
        // Hardhat's accounts 14..17 from its default mnemonic: the local committee's keys.
        const key = HDNodeWallet.fromPhrase("test test test test test test test test test test test junk", undefined, `m/44'/60'/0'/0/${14 + i}`).privateKey;
        const account = privateKeyToAccount(key as Hex);
        expect(account.address).to.equal(members[i]);
        const sig = ethers.Signature.from(await signBatch(account, viemDomain, market as Hex, entriesHash(words), epoch));
        signatures.push([sig.r, sig.yParityAndS]);
      }
      await f.batches.chargeBatchWithAttestation(words, encodeAttestation(epoch, members, 0b111n, signatures));
      expect((await f.marketplace.getEscrow(f.ids[0])).units).to.equal(50n);
    });

    it("refuses the same attestation on another marketplace, and one signed in another chain's domain", async () => {
      const f = await committeeFixture();
      const market = await f.marketplace.getAddress();
      const entries = [entry(f.ids[0], 10n)];
      // A second marketplace behind its own proxy, same implementation, same committee.
      const implementation = (await deployments.get("ModelMarketplace_Implementation")).address;
      const init = f.marketplace.interface.encodeFunctionData("initialize", [{
        admin: f.renter.address, treasury: f.renter.address, protocolFeeBps: 250, minProviderBond: 0, minEscrowDeposit: 0,
        maxEscrowDuration: 3600, disputeWindow: 300, unbondingDelay: 0, settlementGrace: 0, disputeBond: 0,
        disputeResolutionPeriod: 600, disputeSlashBps: 0, attestationVerifier: await f.committee.getAddress(), categories: [],
      }]);
      const proxy = await (await ethers.getContractFactory("ProtocolProxy")).deploy(implementation, init);
      const other = await batchesAt(proxy);
      const forThis = await attestBatch(f.committee, f.nodes.slice(0, 3), market, entries);
      await expect(other.chargeBatchWithAttestation(forThis.words, forThis.bytes))
        .to.be.revertedWithCustomError(f.committee, "InvalidMemberSignature").withArgs(0, f.nodes[0].address);
      const forOther = await attestBatch(f.committee, f.nodes.slice(0, 3), await proxy.getAddress(), entries);
      await expect(f.batches.chargeBatchWithAttestation(forOther.words, forOther.bytes))
        .to.be.revertedWithCustomError(f.committee, "InvalidMemberSignature");
      const otherChain = await attestBatch(f.committee, f.nodes.slice(0, 3), market, entries, { chainId: 137n });
      await expect(f.batches.chargeBatchWithAttestation(otherChain.words, otherChain.bytes))
        .to.be.revertedWithCustomError(f.committee, "InvalidMemberSignature");
      await f.batches.chargeBatchWithAttestation(forThis.words, forThis.bytes);
      expect((await f.marketplace.getEscrow(f.ids[0])).units).to.equal(10n);
    });

    it("refuses entries other than the ones signed, and a quorum short of a member", async () => {
      const f = await committeeFixture();
      const market = await f.marketplace.getAddress();
      const signed = await attestBatch(f.committee, f.nodes.slice(0, 3), market, [entry(f.ids[0], 10n)]);
      const inflated = encodeEntries([entry(f.ids[0], 1_000n)]);
      await expect(f.batches.chargeBatchWithAttestation(inflated, signed.bytes)).to.be.revertedWithCustomError(f.committee, "InvalidMemberSignature");
      const two = await attestBatch(f.committee, f.nodes.slice(0, 2), market, [entry(f.ids[0], 10n)]);
      await expect(f.batches.chargeBatchWithAttestation(two.words, two.bytes)).to.be.revertedWithCustomError(f.committee, "QuorumNotMet").withArgs(2, 3);
    });
  });
});
