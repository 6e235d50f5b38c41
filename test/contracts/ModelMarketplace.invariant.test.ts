/**
 * Accounting invariant, Morpho-style: a seeded random sequence of marketplace actions across several renters and
 * providers (opening, charging by receipt, attestation and batch, renters' own receipts for low cumulative values,
 * bonded disputes of charges and of batch entries, arbiter resolutions both ways, expired-dispute defaults, releases
 * of charges and of batch shares, closes by expiry, agreement and provider, payouts, price changes, bond top-ups and
 * governance terms changes mid-run), and after every action
 *
 *   FTNS.balanceOf(marketplace) == Σ open escrows (deposit − charged) + Σ pending and disputed charges
 *                                  + Σ dispute bonds held for disputed charges + Σ unreleased batch shares
 *                                  + Σ unclaimed payouts + Σ listing bonds
 *
 * plus per-escrow bounds (charged ≤ spend cap ≤ deposit, units never decrease) and, per action, the exact effect it
 * must have (the fee of a receipt charge, where a refund goes). Entities an action touched are re-read from the chain
 * after it; every 500 actions everything is re-read from scratch. FUZZ_RUNS (default 5,000) and FUZZ_SEED change the
 * run.
 */
import { expect } from "chai";
import { deployments, ethers } from "hardhat";
import { time } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import type { IModelMarketplace } from "../../typechain-types";
import { deployProtocol, ftns, impersonate } from "../support/fixtures";
import { signClose, signReceipt } from "../support/marketplace";
import { appliedOf, batchesAt, decodeApplied, encodeApplied, encodeEntries, entriesHash, SkipReason, type BatchEntry } from "../support/batches";

const RUNS = Number(process.env.FUZZ_RUNS ?? 5_000);
const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed);
const FULL_RECOUNT_EVERY = 500;
const DIGEST = ethers.id("fuzz");
const Status = { Open: 1n, Pending: 1n, Disputed: 2n, Refunded: 4n };

/** mulberry32: a small, fast, seedable PRNG so a failing sequence can be replayed exactly. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: <T>(items: T[]): T => items[Math.floor(next() * items.length)],
    chance: (p: number) => next() < p,
  };
}

const setup = deployments.createFixture(async () => {
  const protocol = await deployProtocol();
  const { token, timelock, marketplace, users } = protocol;
  const renters = users.slice(0, 4);
  const providers = users.slice(4, 7);
  const creator = users[7];
  const outsider = users[8];
  const treasury = await impersonate(await timelock.getAddress());
  for (const account of [...renters, ...providers]) {
    await token.connect(treasury).transfer(account.address, ftns(1_000_000));
    await token.connect(account).approve(await marketplace.getAddress(), ethers.MaxUint256);
  }
  const verifier = await (await ethers.getContractFactory("MockAttestationVerifier")).deploy();
  await marketplace.connect(treasury).setAttestationVerifier(await verifier.getAddress());
  const listings: { id: bigint; provider: HardhatEthersSigner }[] = [];
  for (const [i, provider] of providers.entries()) {
    const royalty = i === 0 ? 700 : 0;
    await marketplace
      .connect(provider)
      .list(ethers.id(`model-${i}`), `ipfs://model-${i}`, i, i % 3, ftns(1) / 1000n + BigInt(i), royalty ? creator.address : ethers.ZeroAddress, royalty, ftns(100 + i));
    listings.push({ id: await marketplace.listingCount(), provider });
  }
  return { ...protocol, treasury, renters, providers, creator, outsider, verifier, listings };
});

describe("ModelMarketplace accounting invariant", function () {
  this.timeout(30 * 60_000);

  it(`holds after each of ${RUNS} random actions (seed ${SEED})`, async () => {
    const f = await setup();
    const { marketplace, token, treasury, renters, providers, creator, outsider, verifier, listings } = f;
    const batches = await batchesAt(marketplace);
    const rnd = prng(SEED);
    const marketAddress = await marketplace.getAddress();
    const treasuryAddress = await treasury.getAddress();
    const payoutAccounts = [...renters, ...providers, creator].map((s) => s.address).concat(treasuryAddress);
    const allListingIds = Array.from({ length: Number(await marketplace.listingCount()) }, (_, i) => BigInt(i + 1));
    const minProviderBond = await marketplace.minProviderBond();
    const renterOf = (address: string) => renters.find((r) => r.address === address)!;
    const listingOf = (id: bigint) => listings.find((l) => l.id === id)!;

    // Terms versions never change once published: cache them by id.
    const termsCache = new Map<bigint, IModelMarketplace.TermsStructOutput>();
    const termsOf = async (id: bigint) => {
      if (!termsCache.has(id)) termsCache.set(id, await marketplace.getTerms(id));
      return termsCache.get(id)!;
    };
    let minEscrowDeposit = await marketplace.minEscrowDeposit();
    let maxEscrowDuration = await marketplace.maxEscrowDuration();

    // Cached terms of the invariant, refreshed from the chain for whatever an action touched.
    const escrowTerm = new Map<bigint, bigint>();
    const chargeTerm = new Map<bigint, bigint>();
    const payoutTerm = new Map<string, bigint>();
    const bondTerm = new Map<bigint, bigint>();
    const unitsSeen = new Map<bigint, bigint>();
    const openEscrows = new Set<bigint>();
    const pendingCharges = new Set<bigint>();
    const disputedCharges = new Set<bigint>();
    // Batches with something still held: their applied words, window, and entries disputed so far.
    const batchInfo = new Map<bigint, { until: bigint; words: string[]; listings: Set<bigint>; disputed: Set<number> }>();
    const shareTerm = new Map<string, bigint>();

    const refreshEscrow = async (id: bigint) => {
      const e = await marketplace.getEscrow(id);
      expect(e.charged <= e.spendCap && e.spendCap <= e.deposit, `escrow ${id} bounds`).to.equal(true);
      expect(e.units >= (unitsSeen.get(id) ?? 0n), `escrow ${id} units went down`).to.equal(true);
      unitsSeen.set(id, e.units);
      const open = e.status === Status.Open;
      escrowTerm.set(id, open ? e.deposit - e.charged : 0n);
      if (open) openEscrows.add(id);
      else openEscrows.delete(id);
    };
    const refreshCharge = async (id: bigint) => {
      const c = await marketplace.getCharge(id);
      let held = 0n;
      if (c.status === Status.Pending) held = c.amount;
      if (c.status === Status.Disputed) {
        // The renter's dispute bond, at the escrow's terms, is held with the amount.
        const e = await marketplace.getEscrow(c.escrowId);
        held = c.amount + (await termsOf(e.termsId)).disputeBond;
      }
      chargeTerm.set(id, held);
      pendingCharges.delete(id);
      disputedCharges.delete(id);
      if (c.status === Status.Pending) pendingCharges.add(id);
      if (c.status === Status.Disputed) disputedCharges.add(id);
    };
    const refreshPayouts = async (accounts = payoutAccounts) => {
      const owed = await Promise.all(accounts.map((a) => marketplace.payoutOf(a)));
      accounts.forEach((a, i) => payoutTerm.set(a, owed[i]));
    };
    const refreshBond = async (id: bigint) => bondTerm.set(id, (await marketplace.getListing(id)).bond);
    const refreshShare = async (batchId: bigint, listingId: bigint) =>
      shareTerm.set(`${batchId}:${listingId}`, (await batches.getBatchShare(batchId, listingId)).amount);
    const heldShares = (batchId: bigint) =>
      [...batchInfo.get(batchId)!.listings].filter((l) => (shareTerm.get(`${batchId}:${l}`) ?? 0n) > 0n);
    const sum = (m: Map<unknown, bigint>) => [...m.values()].reduce((x, y) => x + y, 0n);
    const fullRecount = async () => {
      for (const id of Array.from({ length: Number(await marketplace.escrowCount()) }, (_, i) => BigInt(i + 1))) await refreshEscrow(id);
      for (const id of Array.from({ length: Number(await marketplace.chargeCount()) }, (_, i) => BigInt(i + 1))) await refreshCharge(id);
      for (const id of allListingIds) await refreshBond(id);
      for (const [batchId, info] of batchInfo) for (const l of info.listings) await refreshShare(batchId, l);
      await refreshPayouts();
    };
    const check = async (step: number, action: string) => {
      const expected = sum(escrowTerm) + sum(chargeTerm) + sum(shareTerm) + sum(payoutTerm) + sum(bondTerm);
      const actual = await token.balanceOf(marketAddress);
      expect(actual, `step ${step} (${action}): balance vs. escrows + held charges, bonds and shares + payouts + listing bonds`).to.equal(expected);
    };
    /**
     * Pins the next block's timestamp to one second after the latest, so that what the harness predicts (expired or
     * not, within the window or not) is what the contract sees, however long the run takes in wall-clock time.
     */
    const pin = async () => {
      const at = (await time.latest()) + 1;
      await time.setNextBlockTimestamp(at);
      return BigInt(at);
    };

    await fullRecount();
    await check(0, "start");
    const counts: Record<string, number> = {};

    for (let step = 1; step <= RUNS; step++) {
      const roll = rnd.int(0, 114);
      let action = "warp";
      const touchedEscrows: bigint[] = [];
      const touchedCharges: bigint[] = [];
      const touchedBonds: bigint[] = [];

      if (roll < 12 || openEscrows.size === 0) {
        action = "open";
        const renter = rnd.pick(renters);
        const listing = rnd.pick(listings);
        let l = await marketplace.getListing(listing.id);
        if (openEscrows.size === 0 && l.bond < minProviderBond) {
          // Slashes can leave no listing rentable, and with no open escrow every step is an open: the provider tops
          // up first, or the run would only ever refuse.
          await marketplace.connect(listing.provider).addBond(listing.id, minProviderBond - l.bond);
          touchedBonds.push(listing.id);
          l = await marketplace.getListing(listing.id);
        }
        let deposit = BigInt(rnd.int(1, 500)) * 10n ** 16n;
        if (minEscrowDeposit > 0n && rnd.chance(0.05)) deposit = minEscrowDeposit - 1n;
        const cap = rnd.chance(0.5) ? deposit : (deposit * BigInt(rnd.int(1, 100))) / 100n || 1n;
        const maxPrice = rnd.chance(0.9) ? l.pricePerUnit + BigInt(rnd.int(0, 2)) : l.pricePerUnit - 1n;
        const now = await pin();
        const expiresAt = now + BigInt(rnd.chance(0.97) ? rnd.int(30, 1_500) : rnd.pick([0, Number(maxEscrowDuration) + 1]));
        let expected: string | undefined;
        if (l.status !== 1n || l.bond < minProviderBond) expected = "ListingNotRentable";
        else if (l.pricePerUnit > maxPrice) expected = "PriceAboveMaximum";
        else if (cap === 0n || cap > deposit) expected = "InvalidDeposit";
        else if (deposit < minEscrowDeposit) expected = "DepositTooLow";
        else if (expiresAt <= now || expiresAt > now + maxEscrowDuration) expected = "InvalidExpiry";
        const tx = marketplace.connect(renter).openEscrow(listing.id, deposit, cap, expiresAt, maxPrice);
        if (expected) {
          await expect(tx).to.be.revertedWithCustomError(marketplace, expected);
          action += `(${expected})`;
        } else {
          await tx;
          const id = await marketplace.escrowCount();
          expect((await marketplace.getEscrow(id)).termsId).to.equal(await marketplace.currentTermsId());
          touchedEscrows.push(id);
        }
      } else if (roll < 36) {
        action = rnd.chance(0.6) ? "charge-receipt" : "charge-attested";
        const id = rnd.pick([...openEscrows]);
        const e = await marketplace.getEscrow(id);
        const terms = await termsOf(e.termsId);
        const room = (e.spendCap - e.charged) / e.pricePerUnit;
        // Mostly within the cap; sometimes over it, which must revert and change nothing.
        const extra = rnd.chance(0.9) ? BigInt(rnd.int(1, Number(room < 50n ? (room > 0n ? room : 1n) : 50n))) : room + 1n;
        const cumulative = e.units + extra;
        const overCap = extra > room;
        const feeBps = terms.protocolFeeBps;
        const treasuryBefore = await marketplace.payoutOf(treasuryAddress);
        let tx, now: bigint;
        if (action === "charge-receipt") {
          const deadline = BigInt((await time.latest()) + 600);
          const sig = await signReceipt(marketplace, renterOf(e.renter), { escrowId: id, cumulativeUnits: cumulative, deadline });
          now = await pin();
          tx = marketplace.connect(rnd.pick([...providers, outsider])).chargeWithReceipt(id, cumulative, deadline, sig);
        } else {
          const sequence = BigInt(rnd.int(0, 1_000)); // not checked by the marketplace
          await verifier.approve(id, cumulative, sequence, DIGEST);
          now = await pin();
          tx = marketplace.chargeWithAttestation(id, cumulative, sequence, DIGEST, "0x");
        }
        const closedForCharges = now > e.expiresAt + terms.settlementGrace;
        if (overCap || closedForCharges) {
          await expect(tx).to.be.revertedWithCustomError(marketplace, closedForCharges ? "SettlementPeriodOver" : "SpendCapExceeded");
          action += "(rejected)";
        } else {
          await tx;
          const amount = extra * e.pricePerUnit;
          if (action === "charge-receipt") {
            // Settled at once, at the escrow's own fee, rounded up.
            expect(await marketplace.payoutOf(treasuryAddress) - treasuryBefore, `step ${step} fee`).to.equal((amount * feeBps + 9_999n) / 10_000n);
          } else {
            touchedCharges.push(await marketplace.chargeCount());
          }
          const after = await marketplace.getEscrow(id);
          expect([after.units, after.charged]).to.deep.equal([cumulative, e.charged + amount]);
        }
        touchedEscrows.push(id);
      } else if (roll < 41) {
        // The renter submits its own receipt for a low cumulative value: what is already accounted (or less) is
        // refused, one unit more is charged, and it never voids anyone's higher receipt (see the charges above).
        action = "renter-low-receipt";
        const id = rnd.pick([...openEscrows]);
        const e = await marketplace.getEscrow(id);
        const terms = await termsOf(e.termsId);
        const renter = renterOf(e.renter);
        const cumulative = rnd.pick([0n, e.units > 0n ? e.units - 1n : 0n, e.units, e.units, e.units + 1n]);
        const deadline = BigInt((await time.latest()) + 600);
        const sig = await signReceipt(marketplace, renter, { escrowId: id, cumulativeUnits: cumulative, deadline });
        const now = await pin();
        const tx = marketplace.connect(renter).chargeWithReceipt(id, cumulative, deadline, sig);
        const closedForCharges = now > e.expiresAt + terms.settlementGrace;
        if (closedForCharges) {
          await expect(tx).to.be.revertedWithCustomError(marketplace, "SettlementPeriodOver");
          action += "(late)";
        } else if (cumulative <= e.units) {
          await expect(tx).to.be.revertedWithCustomError(marketplace, "NoNewUsage").withArgs(id, cumulative, e.units);
          action += "(no-new-usage)";
        } else if (e.spendCap - e.charged < e.pricePerUnit) {
          await expect(tx).to.be.revertedWithCustomError(marketplace, "SpendCapExceeded");
          action += "(cap)";
        } else {
          await tx;
          expect((await marketplace.getEscrow(id)).units).to.equal(cumulative);
        }
        touchedEscrows.push(id);
      } else if (roll < 49 && pendingCharges.size > 0) {
        action = "dispute";
        const id = rnd.pick([...pendingCharges]);
        const c = await marketplace.getCharge(id);
        const e = await marketplace.getEscrow(c.escrowId);
        const terms = await termsOf(e.termsId);
        const renter = renterOf(e.renter);
        const now = await pin();
        if (now > c.disputableUntil) {
          await expect(marketplace.connect(renter).disputeCharge(id)).to.be.revertedWithCustomError(marketplace, "DisputeWindowClosed");
          action += "(late)";
        } else if (terms.disputeBond > 0n && rnd.chance(0.1)) {
          // No allowance for the bond: no dispute.
          await token.connect(renter).approve(marketAddress, terms.disputeBond - 1n);
          await pin();
          await expect(marketplace.connect(renter).disputeCharge(id)).to.be.revertedWithCustomError(token, "ERC20InsufficientAllowance");
          await token.connect(renter).approve(marketAddress, ethers.MaxUint256);
          action += "(no-allowance)";
        } else {
          const before = await token.balanceOf(renter.address);
          await expect(marketplace.connect(renter).disputeCharge(id))
            .to.emit(marketplace, "ChargeDisputed").withArgs(id, c.escrowId, renter.address, terms.disputeBond, now + terms.disputeResolutionPeriod);
          expect(await token.balanceOf(renter.address)).to.equal(before - terms.disputeBond);
        }
        touchedCharges.push(id);
      } else if (roll < 55 && disputedCharges.size > 0) {
        action = "resolve";
        const id = rnd.pick([...disputedCharges]);
        const c = await marketplace.getCharge(id);
        const e = await marketplace.getEscrow(c.escrowId);
        const terms = await termsOf(e.termsId);
        const l = await marketplace.getListing(e.listingId);
        const payProvider = rnd.chance(0.5);
        const now = await pin();
        if (now > c.resolveBy) {
          await expect(marketplace.connect(treasury).resolveDispute(id, payProvider))
            .to.be.revertedWithCustomError(marketplace, "DisputeDeadlinePassed");
          action += "(late)";
        } else {
          const renterPayout = await marketplace.payoutOf(e.renter);
          const treasuryPayout = await marketplace.payoutOf(treasuryAddress);
          await marketplace.connect(treasury).resolveDispute(id, payProvider);
          if (!payProvider) {
            action = "resolve-to-renter";
            // The amount goes back to the open escrow (or to the renter once closed); the bond back to the renter;
            // the slash of the listing bond to the treasury.
            const after = await marketplace.getEscrow(c.escrowId);
            const open = e.status === Status.Open;
            expect(after.charged).to.equal(open ? e.charged - c.amount : e.charged);
            expect(await marketplace.payoutOf(e.renter)).to.equal(renterPayout + terms.disputeBond + (open ? 0n : c.amount));
            const slash = (l.bond * terms.disputeSlashBps) / 10_000n;
            expect((await marketplace.getListing(e.listingId)).bond).to.equal(l.bond - slash);
            expect(await marketplace.payoutOf(treasuryAddress)).to.equal(treasuryPayout + slash);
            expect((await marketplace.getCharge(id)).status).to.equal(Status.Refunded);
          } else {
            action = "resolve-to-provider";
            expect((await marketplace.getListing(e.listingId)).bond).to.equal(l.bond);
          }
          // Resolving twice must never pay twice.
          await expect(marketplace.connect(treasury).resolveDispute(id, true)).to.be.revertedWithCustomError(marketplace, "ChargeNotDisputed");
          await expect(marketplace.resolveExpiredDispute(id)).to.be.revertedWithCustomError(marketplace, "ChargeNotDisputed");
        }
        touchedCharges.push(id);
        touchedEscrows.push(c.escrowId);
        touchedBonds.push(e.listingId);
      } else if (roll < 59 && disputedCharges.size > 0) {
        action = "expired-default";
        const id = rnd.pick([...disputedCharges]);
        const c = await marketplace.getCharge(id);
        const e = await marketplace.getEscrow(c.escrowId);
        const caller = rnd.pick([outsider, renterOf(e.renter), listingOf(e.listingId).provider]);
        const now = await pin();
        if (now > c.resolveBy) {
          await expect(marketplace.connect(caller).resolveExpiredDispute(id))
            .to.emit(marketplace, "DisputeResolved").withArgs(id, c.escrowId, true, c.amount, caller.address, true);
        } else {
          await expect(marketplace.connect(caller).resolveExpiredDispute(id))
            .to.be.revertedWithCustomError(marketplace, "DisputeDeadlineNotReached");
          action += "(early)";
        }
        touchedCharges.push(id);
      } else if (roll < 66 && pendingCharges.size > 0) {
        action = "release";
        const id = rnd.pick([...pendingCharges]);
        const c = await marketplace.getCharge(id);
        if ((await pin()) > c.disputableUntil) {
          await marketplace.releaseCharge(id);
        } else {
          await expect(marketplace.releaseCharge(id)).to.be.revertedWithCustomError(marketplace, "DisputeWindowOpen");
          action += "(early)";
        }
        touchedCharges.push(id);
      } else if (roll < 73) {
        action = "close";
        const id = rnd.pick([...openEscrows]);
        const e = await marketplace.getEscrow(id);
        const terms = await termsOf(e.termsId);
        if ((await pin()) > e.expiresAt + terms.settlementGrace) {
          await marketplace.closeEscrow(id);
        } else if (rnd.chance(0.3)) {
          const listing = listingOf(e.listingId);
          const renter = renterOf(e.renter);
          const deadline = BigInt((await time.latest()) + 600);
          await marketplace.connect(renter).closeEscrowByAgreement(id, deadline, await signClose(marketplace, listing.provider, id, deadline));
          action = "close-agreed";
        } else {
          await expect(marketplace.closeEscrow(id)).to.be.revertedWithCustomError(marketplace, "EscrowNotClosable");
          action += "(early)";
        }
        touchedEscrows.push(id);
      } else if (roll < 77) {
        action = "close-by-provider";
        const id = rnd.pick([...openEscrows]);
        const e = await marketplace.getEscrow(id);
        const listing = listingOf(e.listingId);
        if (rnd.chance(0.2)) {
          const wrong = rnd.pick([...providers.filter((p) => p !== listing.provider), renterOf(e.renter), outsider]);
          await expect(marketplace.connect(wrong).closeEscrowByProvider(id))
            .to.be.revertedWithCustomError(marketplace, "NotListingProvider").withArgs(e.listingId, wrong.address);
        }
        const before = await token.balanceOf(e.renter);
        await expect(marketplace.connect(listing.provider).closeEscrowByProvider(id))
          .to.emit(marketplace, "EscrowClosed").withArgs(id, listing.provider.address, e.deposit - e.charged, false);
        expect(await token.balanceOf(e.renter)).to.equal(before + e.deposit - e.charged);
        touchedEscrows.push(id);
      } else if (roll < 83) {
        action = "withdraw";
        const owed = [...payoutTerm.entries()].filter(([, v]) => v > 0n);
        if (owed.length > 0) {
          const [account] = rnd.pick(owed);
          await marketplace.withdrawFor(account);
        } else {
          action += "(nothing)";
        }
      } else if (roll < 87) {
        action = "price";
        const listing = rnd.pick(listings);
        await marketplace.connect(listing.provider).setPrice(listing.id, ftns(1) / 1000n + BigInt(rnd.int(0, 1_000)));
      } else if (roll < 89) {
        action = "add-bond";
        // Slashes eventually make listings unrentable; their providers top them up.
        const listing = rnd.pick(listings);
        const bond = (await marketplace.getListing(listing.id)).bond;
        const topUp = bond < minProviderBond ? minProviderBond - bond + BigInt(rnd.int(0, 5)) * ftns(1) : ftns(1);
        await marketplace.connect(listing.provider).addBond(listing.id, topUp);
        touchedBonds.push(listing.id);
      } else if (roll < 92) {
        action = "terms";
        // Governance (the timelock) changes a term mid-run; open escrows must keep theirs.
        const admin = marketplace.connect(treasury);
        const kind = rnd.int(0, 6);
        const before = await marketplace.currentTermsId();
        if (kind === 0) await admin.setProtocolFee(rnd.int(0, 1_000));
        else if (kind === 1) await admin.setSettlementGrace(rnd.int(0, 600));
        else if (kind === 2) await admin.setDisputeWindow(rnd.int(0, 900));
        else if (kind === 3) await admin.setDisputeTerms(BigInt(rnd.int(0, 3)) * ftns(1) + BigInt(rnd.int(0, 1_000)), rnd.int(1, 900), rnd.int(0, 3_000));
        else if (kind === 4) {
          minEscrowDeposit = BigInt(rnd.int(0, 50)) * 10n ** 15n;
          await admin.setMinEscrowDeposit(minEscrowDeposit);
        } else if (kind === 5) {
          maxEscrowDuration = BigInt(rnd.int(600, 90 * 24 * 3600));
          await admin.setMaxEscrowDuration(maxEscrowDuration);
        } else {
          // An out-of-bounds value is refused and publishes nothing.
          const bad = rnd.int(0, 2);
          if (bad === 0) await expect(admin.setProtocolFee(1_001)).to.be.revertedWithCustomError(marketplace, "FeeTooHigh");
          else if (bad === 1) await expect(admin.setDisputeTerms(0, 600, 10_001)).to.be.revertedWithCustomError(marketplace, "InvalidSlash");
          else await expect(admin.setDisputeTerms(0, 0, 0)).to.be.revertedWithCustomError(marketplace, "InvalidPeriod");
          action += "(refused)";
        }
        const published = kind <= 3 ? 1n : 0n;
        expect(await marketplace.currentTermsId()).to.equal(before + published);
      } else if (roll >= 100 && roll < 105) {
        action = "charge-batch";
        // A few entries, in a random order of escrows (some closed, some unknown, repeats), mostly new usage within
        // the cap; the harness predicts what applies and what is skipped, in order, as the contract must.
        const escrowCount = await marketplace.escrowCount();
        const ids = Array.from({ length: rnd.int(1, 6) }, () =>
          rnd.chance(0.85) && openEscrows.size > 0 ? rnd.pick([...openEscrows]) : BigInt(rnd.int(0, Number(escrowCount) + 2)));
        const state = new Map<bigint, Awaited<ReturnType<typeof marketplace.getEscrow>>>();
        for (const id of ids) if (!state.has(id)) state.set(id, await marketplace.getEscrow(id));
        const planned = new Map<bigint, { units: bigint; charged: bigint }>();
        const entries: BatchEntry[] = [];
        for (const id of ids) {
          const e = state.get(id)!;
          const current = planned.get(id) ?? { units: e.units, charged: e.charged };
          const room = e.pricePerUnit > 0n ? (e.spendCap - current.charged) / e.pricePerUnit : 0n;
          const extra = rnd.chance(0.1) ? 0n : rnd.chance(0.9) ? BigInt(rnd.int(1, Number(room < 20n ? (room > 0n ? room : 1n) : 20n))) : room + 1n;
          const cumulativeUnits = current.units + extra;
          entries.push({ escrowId: id, sequence: BigInt(step), cumulativeUnits, resultDigest: ethers.id(`batch-${step}-${entries.length}`) as `0x${string}` });
          if (e.status === Status.Open && extra > 0n && extra <= room) planned.set(id, { units: cumulativeUnits, charged: current.charged + extra * e.pricePerUnit });
        }
        const words = encodeEntries(entries);
        await verifier.approveBatch(entriesHash(words));
        const now = await pin();
        const tx = await batches.connect(rnd.pick([outsider, ...providers])).chargeBatchWithAttestation(words, "0x");
        const batchId = await batches.batchCount();
        // The prediction, entry by entry on the running state.
        const running = new Map([...state].map(([id, e]) => [id, { units: e.units, charged: e.charged }]));
        const appliedWords: string[] = [];
        const perListing = new Map<bigint, { amount: bigint; fee: bigint }>();
        let window = -1n;
        for (const [index, en] of entries.entries()) {
          const e = state.get(en.escrowId)!;
          const r = running.get(en.escrowId)!;
          const terms = e.status === Status.Open ? await termsOf(e.termsId) : undefined;
          const amount = (en.cumulativeUnits - r.units) * e.pricePerUnit;
          let reason: bigint | undefined;
          if (e.status !== Status.Open) reason = SkipReason.NotOpen;
          else if (now > e.expiresAt + terms!.settlementGrace) reason = SkipReason.SettlementPeriodOver;
          else if (en.cumulativeUnits <= r.units) reason = SkipReason.NoNewUsage;
          else if (amount > e.spendCap - r.charged) reason = SkipReason.SpendCapExceeded;
          if (reason !== undefined) {
            await expect(tx).to.emit(batches, "BatchEntrySkipped").withArgs(batchId, index, en.escrowId, reason);
            continue;
          }
          r.units = en.cumulativeUnits;
          r.charged += amount;
          appliedWords.push(encodeApplied({ escrowId: en.escrowId, cumulativeUnits: en.cumulativeUnits, amount }));
          const share = perListing.get(e.listingId) ?? { amount: 0n, fee: 0n };
          share.amount += amount;
          share.fee += (amount * terms!.protocolFeeBps + 9_999n) / 10_000n;
          perListing.set(e.listingId, share);
          if (terms!.disputeWindow > window) window = terms!.disputeWindow;
        }
        const result = await appliedOf(batches, tx);
        expect(result.words, `step ${step} applied words`).to.deep.equal(appliedWords);
        expect(result.disputableUntil).to.equal(appliedWords.length ? now + window : 0n);
        for (const [listingId, share] of perListing) {
          const onChain = await batches.getBatchShare(batchId, listingId);
          expect([onChain.amount, onChain.fee], `step ${step} share of listing ${listingId}`).to.deep.equal([share.amount, share.fee]);
        }
        if (appliedWords.length) {
          batchInfo.set(batchId, { until: now + window, words: appliedWords, listings: new Set(perListing.keys()), disputed: new Set() });
          for (const l of perListing.keys()) await refreshShare(batchId, l);
        } else {
          action += "(nothing)";
        }
        touchedEscrows.push(...state.keys());
      } else if (roll >= 105 && roll < 110 && batchInfo.size > 0) {
        action = "dispute-batch";
        const batchId = rnd.pick([...batchInfo.keys()]);
        const info = batchInfo.get(batchId)!;
        const open = info.words.map((_, i) => i).filter((i) => !info.disputed.has(i));
        if (open.length === 0) {
          action += "(none left)";
        } else {
          const index = rnd.pick(open);
          const { escrowId, amount } = decodeApplied(info.words[index] as `0x${string}`);
          const e = await marketplace.getEscrow(escrowId);
          const terms = await termsOf(e.termsId);
          const renter = renterOf(e.renter);
          const shareBefore = (await batches.getBatchShare(batchId, e.listingId)).amount;
          if ((await pin()) > info.until) {
            await expect(batches.connect(renter).disputeBatchEntry(batchId, info.words, index))
              .to.be.revertedWithCustomError(batches, "BatchDisputeWindowClosed");
            action += "(late)";
          } else {
            const before = await token.balanceOf(renter.address);
            await batches.connect(renter).disputeBatchEntry(batchId, info.words, index);
            expect(await token.balanceOf(renter.address)).to.equal(before - terms.disputeBond);
            expect((await batches.getBatchShare(batchId, e.listingId)).amount).to.equal(shareBefore - amount);
            info.disputed.add(index);
            touchedCharges.push(await marketplace.chargeCount());
          }
          await refreshShare(batchId, e.listingId);
        }
      } else if (roll >= 110 && batchInfo.size > 0) {
        action = "release-batch";
        const batchId = rnd.pick([...batchInfo.keys()]);
        const info = batchInfo.get(batchId)!;
        const held = heldShares(batchId);
        const now = await pin();
        if (held.length === 0) {
          // Every entry was disputed: the shares are gone; the window is checked first.
          await expect(batches.releaseBatchShares(batchId, [...info.listings]))
            .to.be.revertedWithCustomError(batches, now > info.until ? "BatchShareNotFound" : "BatchDisputeWindowOpen");
          batchInfo.delete(batchId);
          action += "(nothing held)";
        } else if (now > info.until) {
          const owedBefore = await Promise.all(payoutAccounts.map((a) => marketplace.payoutOf(a)));
          await batches.connect(rnd.pick([outsider, ...renters])).releaseBatchShares(batchId, held);
          const owedAfter = await Promise.all(payoutAccounts.map((a) => marketplace.payoutOf(a)));
          const credited = owedAfter.reduce((x, y) => x + y, 0n) - owedBefore.reduce((x, y) => x + y, 0n);
          const released = held.reduce((x, l) => x + shareTerm.get(`${batchId}:${l}`)!, 0n);
          expect(credited, `step ${step} release credits exactly the shares`).to.equal(released);
          for (const l of held) await refreshShare(batchId, l);
        } else {
          await expect(batches.releaseBatchShares(batchId, held)).to.be.revertedWithCustomError(batches, "BatchDisputeWindowOpen");
          action += "(early)";
        }
      } else {
        await time.increase(rnd.int(1, 400));
      }

      for (const id of touchedEscrows) await refreshEscrow(id);
      for (const id of touchedCharges) await refreshCharge(id);
      for (const id of touchedBonds) await refreshBond(id);
      await refreshPayouts();
      if (step % FULL_RECOUNT_EVERY === 0) await fullRecount();
      await check(step, action);
      const kind = action.replace(/\(.*/, "");
      counts[kind] = (counts[kind] ?? 0) + 1;
      counts[action] = (counts[action] ?? 0) + (action === kind ? 0 : 1);
    }

    // Every kind of action must actually have happened for the run to mean something.
    for (const kind of [
      "open", "open(DepositTooLow)", "open(PriceAboveMaximum)", "open(InvalidExpiry)", "charge-receipt", "charge-attested",
      "renter-low-receipt", "renter-low-receipt(no-new-usage)", "dispute", "dispute(no-allowance)", "resolve-to-renter",
      "resolve-to-provider", "resolve(late)", "expired-default", "expired-default(early)", "release", "close",
      "close-agreed", "close-by-provider", "withdraw", "price", "add-bond", "terms", "warp", "charge-batch",
      "dispute-batch", "dispute-batch(late)", "release-batch", "release-batch(early)",
    ]) {
      expect(counts[kind] ?? 0, `action ${kind} never ran (${JSON.stringify(counts)})`).to.be.greaterThan(0);
    }
    expect(await marketplace.currentTermsId(), "terms never changed").to.be.greaterThan(3n);
    process.stdout.write(`      actions: ${JSON.stringify(counts)}\n`);
  });
});
