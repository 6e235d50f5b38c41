/**
 * Accounting invariant, Morpho-style: a seeded random sequence of marketplace actions across several renters and
 * providers, and after every action
 *
 *   FTNS.balanceOf(marketplace) == Σ open escrows (deposit − charged) + Σ pending and disputed charges
 *                                  + Σ unclaimed payouts + Σ listing bonds
 *
 * plus per-escrow bounds (charged ≤ spend cap ≤ deposit). Entities an action touched are re-read from the chain after
 * it; every 500 actions everything is re-read from scratch. FUZZ_RUNS (default 5,000) and FUZZ_SEED change the run.
 */
import { expect } from "chai";
import { deployments, ethers } from "hardhat";
import { time } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import { deployProtocol, ftns, impersonate } from "../support/fixtures";
import { signClose, signReceipt } from "../support/marketplace";

const RUNS = Number(process.env.FUZZ_RUNS ?? 5_000);
const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed);
const FULL_RECOUNT_EVERY = 500;
const DIGEST = ethers.id("fuzz");

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
  return { ...protocol, treasury, renters, providers, creator, verifier, listings };
});

describe("ModelMarketplace accounting invariant", function () {
  this.timeout(30 * 60_000);

  it(`holds after each of ${RUNS} random actions (seed ${SEED})`, async () => {
    const f = await setup();
    const { marketplace, token, treasury, renters, providers, creator, verifier, listings } = f;
    const rnd = prng(SEED);
    const marketAddress = await marketplace.getAddress();
    const payoutAccounts = [...renters, ...providers, creator].map((s) => s.address).concat(await treasury.getAddress());
    const allListingIds = Array.from({ length: Number(await marketplace.listingCount()) }, (_, i) => BigInt(i + 1));

    // Cached terms of the invariant, refreshed from the chain for whatever an action touched.
    const escrowTerm = new Map<bigint, bigint>();
    const chargeTerm = new Map<bigint, bigint>();
    const payoutTerm = new Map<string, bigint>();
    const bondTerm = new Map<bigint, bigint>();
    const openEscrows = new Set<bigint>();
    const pendingCharges = new Set<bigint>();
    const disputedCharges = new Set<bigint>();

    const refreshEscrow = async (id: bigint) => {
      const e = await marketplace.getEscrow(id);
      expect(e.charged <= e.spendCap && e.spendCap <= e.deposit, `escrow ${id} bounds`).to.equal(true);
      const open = e.status === 1n;
      escrowTerm.set(id, open ? e.deposit - e.charged : 0n);
      if (open) openEscrows.add(id);
      else openEscrows.delete(id);
    };
    const refreshCharge = async (id: bigint) => {
      const c = await marketplace.getCharge(id);
      chargeTerm.set(id, c.status === 1n || c.status === 2n ? c.amount : 0n);
      pendingCharges.delete(id);
      disputedCharges.delete(id);
      if (c.status === 1n) pendingCharges.add(id);
      if (c.status === 2n) disputedCharges.add(id);
    };
    const refreshPayouts = async () => {
      for (const a of payoutAccounts) payoutTerm.set(a, await marketplace.payoutOf(a));
    };
    const refreshBond = async (id: bigint) => bondTerm.set(id, (await marketplace.getListing(id)).bond);
    const sum = (m: Map<unknown, bigint>) => [...m.values()].reduce((x, y) => x + y, 0n);
    const fullRecount = async () => {
      for (const id of Array.from({ length: Number(await marketplace.escrowCount()) }, (_, i) => BigInt(i + 1))) await refreshEscrow(id);
      for (const id of Array.from({ length: Number(await marketplace.chargeCount()) }, (_, i) => BigInt(i + 1))) await refreshCharge(id);
      for (const id of allListingIds) await refreshBond(id);
      await refreshPayouts();
    };
    const check = async (step: number, action: string) => {
      const expected = sum(escrowTerm) + sum(chargeTerm) + sum(payoutTerm) + sum(bondTerm);
      const actual = await token.balanceOf(marketAddress);
      expect(actual, `step ${step} (${action}): balance vs. escrows + held charges + payouts + bonds`).to.equal(expected);
    };

    await fullRecount();
    await check(0, "start");
    const counts: Record<string, number> = {};
    const sequence = new Map<bigint, bigint>();
    const units = new Map<bigint, bigint>();

    for (let step = 1; step <= RUNS; step++) {
      const roll = rnd.int(0, 99);
      let action = "warp";
      const touchedEscrows: bigint[] = [];
      const touchedCharges: bigint[] = [];
      let touchedBond: bigint | undefined;

      if (roll < 16 || openEscrows.size === 0) {
        action = "open";
        const renter = rnd.pick(renters);
        const listing = rnd.pick(listings);
        const deposit = BigInt(rnd.int(1, 500)) * 10n ** 16n;
        const cap = rnd.chance(0.5) ? deposit : (deposit * BigInt(rnd.int(1, 100))) / 100n || 1n;
        await marketplace.connect(renter).openEscrow(listing.id, deposit, cap, (await time.latest()) + rnd.int(30, 1_500));
        const id = await marketplace.escrowCount();
        sequence.set(id, 0n);
        units.set(id, 0n);
        touchedEscrows.push(id);
      } else if (roll < 46) {
        action = rnd.chance(0.6) ? "charge-receipt" : "charge-attested";
        const id = rnd.pick([...openEscrows]);
        const e = await marketplace.getEscrow(id);
        const room = (e.spendCap - e.charged) / e.pricePerUnit;
        // Mostly within the cap; sometimes over it, which must revert and change nothing.
        const extra = rnd.chance(0.9) ? BigInt(rnd.int(0, Number(room < 50n ? room : 50n))) : room + 1n;
        const cumulative = units.get(id)! + extra;
        const seq = sequence.get(id)! + 1n;
        const overCap = extra > room;
        const closedForCharges = BigInt(await time.latest()) + 1n > e.expiresAt + 60n;
        let tx;
        if (action === "charge-receipt") {
          const renter = renters.find((r) => r.address === e.renter)!;
          const deadline = BigInt((await time.latest()) + 600);
          const sig = await signReceipt(marketplace, renter, { escrowId: id, cumulativeUnits: cumulative, sequence: seq, deadline });
          tx = marketplace.chargeWithReceipt(id, cumulative, seq, deadline, sig);
        } else {
          await verifier.approve(id, cumulative, seq, DIGEST);
          tx = marketplace.chargeWithAttestation(id, cumulative, seq, DIGEST, "0x");
        }
        if (overCap || closedForCharges) {
          await expect(tx).to.be.revertedWithCustomError(marketplace, overCap && !closedForCharges ? "SpendCapExceeded" : "SettlementPeriodOver");
          action += "(rejected)";
        } else {
          await tx;
          sequence.set(id, seq);
          units.set(id, cumulative);
          if (action === "charge-attested") touchedCharges.push(await marketplace.chargeCount());
        }
        touchedEscrows.push(id);
      } else if (roll < 54 && pendingCharges.size > 0) {
        action = "dispute";
        const id = rnd.pick([...pendingCharges]);
        const c = await marketplace.getCharge(id);
        const e = await marketplace.getEscrow(c.escrowId);
        const renter = renters.find((r) => r.address === e.renter)!;
        if (BigInt(await time.latest()) + 1n > c.disputableUntil) {
          await expect(marketplace.connect(renter).disputeCharge(id)).to.be.revertedWithCustomError(marketplace, "DisputeWindowClosed");
          action += "(late)";
        } else {
          await marketplace.connect(renter).disputeCharge(id);
        }
        touchedCharges.push(id);
      } else if (roll < 60 && disputedCharges.size > 0) {
        action = "resolve";
        const id = rnd.pick([...disputedCharges]);
        await marketplace.connect(treasury).resolveDispute(id, rnd.chance(0.5));
        // Resolving twice must never pay twice.
        await expect(marketplace.connect(treasury).resolveDispute(id, true)).to.be.revertedWithCustomError(marketplace, "ChargeNotDisputed");
        touchedCharges.push(id);
      } else if (roll < 68 && pendingCharges.size > 0) {
        action = "release";
        const id = rnd.pick([...pendingCharges]);
        const c = await marketplace.getCharge(id);
        if (BigInt(await time.latest()) + 1n > c.disputableUntil) {
          await marketplace.releaseCharge(id);
        } else {
          await expect(marketplace.releaseCharge(id)).to.be.revertedWithCustomError(marketplace, "DisputeWindowOpen");
          action += "(early)";
        }
        touchedCharges.push(id);
      } else if (roll < 76) {
        action = "close";
        const id = rnd.pick([...openEscrows]);
        const e = await marketplace.getEscrow(id);
        if (BigInt(await time.latest()) + 1n > e.expiresAt + 60n) {
          await marketplace.closeEscrow(id);
        } else if (rnd.chance(0.3)) {
          const listing = listings.find((l) => l.id === e.listingId)!;
          const renter = renters.find((r) => r.address === e.renter)!;
          const deadline = BigInt((await time.latest()) + 600);
          await marketplace.connect(renter).closeEscrowByAgreement(id, deadline, await signClose(marketplace, listing.provider, id, deadline));
          action = "close-agreed";
        } else {
          await expect(marketplace.closeEscrow(id)).to.be.revertedWithCustomError(marketplace, "EscrowNotClosable");
          action += "(early)";
        }
        touchedEscrows.push(id);
      } else if (roll < 84) {
        action = "withdraw";
        const owed = [...payoutTerm.entries()].filter(([, v]) => v > 0n);
        if (owed.length > 0) {
          const [account] = rnd.pick(owed);
          await marketplace.withdrawFor(account);
        } else {
          action += "(nothing)";
        }
      } else if (roll < 90) {
        action = "price";
        const listing = rnd.pick(listings);
        await marketplace.connect(listing.provider).setPrice(listing.id, ftns(1) / 1000n + BigInt(rnd.int(0, 1_000)));
        touchedBond = listing.id;
      } else {
        await time.increase(rnd.int(1, 400));
      }

      for (const id of touchedEscrows) await refreshEscrow(id);
      for (const id of touchedCharges) await refreshCharge(id);
      if (touchedBond !== undefined) await refreshBond(touchedBond);
      await refreshPayouts();
      if (step % FULL_RECOUNT_EVERY === 0) await fullRecount();
      await check(step, action);
      const kind = action.replace(/\(.*/, "");
      counts[kind] = (counts[kind] ?? 0) + 1;
    }

    // Every kind of action must actually have happened for the run to mean something.
    for (const kind of ["open", "charge-receipt", "charge-attested", "dispute", "resolve", "release", "close", "withdraw", "price", "warp"]) {
      expect(counts[kind] ?? 0, `action ${kind} never ran`).to.be.greaterThan(0);
    }
    process.stdout.write(`      actions: ${JSON.stringify(counts)}\n`);
    void providers;
  });
});
