import { expect } from "chai";
import { deployments, ethers, network, upgrades } from "hardhat";
import { time } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import { anyValue } from "@nomicfoundation/hardhat-chai-matchers/withArgs";
import type { ContractTransactionResponse, Interface } from "ethers";
import { CATEGORIES, parametersFor } from "../../config/parameters";
import { DEMO_MODEL, LAUNCH_MODELS, priceInFtns, UNIT_IDS } from "../../config/launch-models";
import { deployProtocol, ftns, impersonate } from "../support/fixtures";
import { signClose, signReceipt } from "../support/marketplace";

const Unit = { Token: 0, Request: 1, Second: 2 };
const ListingStatus = { None: 0n, Active: 1n, Paused: 2n, Delisted: 3n };
const EscrowStatus = { None: 0n, Open: 1n, Closed: 2n };
const ChargeStatus = { None: 0n, Pending: 1n, Disputed: 2n, Released: 3n, Refunded: 4n };
const PRICE = ftns(2); // per unit
const DIGEST = ethers.id("result");
const ARBITER_ROLE = ethers.id("ARBITER_ROLE");
const UPGRADER_ROLE = ethers.id("UPGRADER_ROLE");
const DEFAULT_ADMIN_ROLE = ethers.ZeroHash;
const DAY = 24 * 60 * 60;
const MAX_UINT48 = 2n ** 48n - 1n;
const MAX_UINT64 = 2n ** 64n - 1n;
const MAX_UINT96 = 2n ** 96n - 1n;
const MAX_PERIOD = 365n * BigInt(DAY);
const MAX_ESCROW_DURATION = 5n * 365n * BigInt(DAY);

/** The local profile the hardhat network deploys with. */
const LOCAL = parametersFor("hardhat").marketplace;
const MIN_DEPOSIT = LOCAL.minEscrowDeposit; // 1e15
const MAX_DURATION = LOCAL.maxEscrowDuration; // 90 days
const DISPUTE_BOND = LOCAL.disputeBond; // 1 FTNS
const RESOLUTION = LOCAL.disputeResolutionPeriod; // 600 s
const SLASH_BPS = BigInt(LOCAL.disputeSlashBps); // 500
const WINDOW = LOCAL.disputeWindow; // 300 s
const GRACE = LOCAL.settlementGrace; // 60 s

/** The split of `amount` at `feeBps` and `royaltyBps`: the fee is rounded up, the royalty down. */
function split(amount: bigint, feeBps = 250n, royaltyBps = 500n) {
  const fee = (amount * feeBps + 9_999n) / 10_000n;
  const royalty = (amount * royaltyBps) / 10_000n;
  return { fee, royalty, provider: amount - fee - royalty };
}

/**
 * Deployed protocol (local profile: fee 250 bps, min bond 100 FTNS, min deposit 0.001 FTNS, max duration 90 days,
 * dispute window 300 s, dispute bond 1 FTNS, resolution period 600 s, slash 500 bps, unbonding 600 s, settlement
 * grace 60 s) plus a listing at 2 FTNS per token with a 5% creator royalty, funded renters (who approved the
 * marketplace for everything), and a test attestation verifier.
 */
const marketFixture = deployments.createFixture(async () => {
  const protocol = await deployProtocol();
  const { token, timelock, marketplace, users } = protocol;
  const [renter, renter2, provider, creator, outsider] = users;
  const treasury = await impersonate(await timelock.getAddress());
  for (const account of [renter, renter2, provider]) {
    await token.connect(treasury).transfer(account.address, ftns(10_000));
    await token.connect(account).approve(await marketplace.getAddress(), ethers.MaxUint256);
  }
  const verifier = await (await ethers.getContractFactory("MockAttestationVerifier")).deploy();
  await marketplace.connect(treasury).setAttestationVerifier(await verifier.getAddress());
  await marketplace
    .connect(provider)
    .list(ethers.id("model-weights"), "ipfs://bafy-model", 0, Unit.Token, PRICE, creator.address, 500, ftns(100));
  const listingId = await marketplace.listingCount();
  return { ...protocol, treasury, renter, renter2, provider, creator, outsider, verifier, listingId };
});

type Fixture = Awaited<ReturnType<typeof marketFixture>>;

interface OpenOptions {
  renter?: HardhatEthersSigner;
  listingId?: bigint;
  deposit?: bigint;
  cap?: bigint;
  duration?: number;
  /** Defaults to the listing's current price. */
  maxPrice?: bigint;
}

async function openEscrow(f: Fixture, opts: OpenOptions = {}) {
  const renter = opts.renter ?? f.renter;
  const listingId = opts.listingId ?? f.listingId;
  const deposit = opts.deposit ?? ftns(100);
  const maxPrice = opts.maxPrice ?? (await f.marketplace.getListing(listingId)).pricePerUnit;
  const expiresAt = (await time.latest()) + (opts.duration ?? 3600);
  await f.marketplace.connect(renter).openEscrow(listingId, deposit, opts.cap ?? deposit, expiresAt, maxPrice);
  return { escrowId: await f.marketplace.escrowCount(), expiresAt };
}

/** Pins the next block's timestamp (a few seconds ahead) so a test can predict what the contract computes from it. */
async function nextTimestamp(ahead = 5): Promise<bigint> {
  const at = (await time.latest()) + ahead;
  await time.setNextBlockTimestamp(at);
  return BigInt(at);
}

async function deadline(seconds = 600) {
  return BigInt((await time.latest()) + seconds);
}

/** A receipt for `cumulativeUnits` signed by `signer` (the renter by default) and submitted by `submitter`. */
async function chargeReceipt(
  f: Fixture,
  escrowId: bigint,
  cumulativeUnits: bigint,
  signer = f.renter,
  submitter = f.provider,
) {
  const dl = await deadline();
  const sig = await signReceipt(f.marketplace, signer, { escrowId, cumulativeUnits, deadline: dl });
  return f.marketplace.connect(submitter).chargeWithReceipt(escrowId, cumulativeUnits, dl, sig);
}

async function attest(f: Fixture, escrowId: bigint, cumulativeUnits: bigint, sequence = 1n) {
  await f.verifier.approve(escrowId, cumulativeUnits, sequence, DIGEST);
  await f.marketplace.chargeWithAttestation(escrowId, cumulativeUnits, sequence, DIGEST, "0x");
  return f.marketplace.chargeCount();
}

/** Opens an escrow, charges `units` by attestation and disputes the charge. */
async function disputed(f: Fixture, units = 10n, opts: OpenOptions = {}) {
  const { escrowId, expiresAt } = await openEscrow(f, opts);
  const chargeId = await attest(f, escrowId, units);
  await f.marketplace.connect(opts.renter ?? f.renter).disputeCharge(chargeId);
  const { resolveBy } = await f.marketplace.getCharge(chargeId);
  return { escrowId, expiresAt, chargeId, resolveBy };
}

describe("ModelMarketplace", () => {
  describe("deployment", () => {
    it("is configured from config/parameters.ts and governed by the timelock", async () => {
      const { marketplace, timelock, token } = await marketFixture();
      const tl = await timelock.getAddress();
      expect(await marketplace.token()).to.equal(await token.getAddress());
      expect(await marketplace.treasury()).to.equal(tl);
      expect(await marketplace.protocolFeeBps()).to.equal(250n);
      expect(await marketplace.minProviderBond()).to.equal(ftns(100));
      expect(await marketplace.minEscrowDeposit()).to.equal(MIN_DEPOSIT);
      expect(await marketplace.maxEscrowDuration()).to.equal(BigInt(MAX_DURATION));
      expect(await marketplace.disputeWindow()).to.equal(300n);
      expect(await marketplace.unbondingDelay()).to.equal(600n);
      expect(await marketplace.settlementGrace()).to.equal(60n);
      for (const role of [DEFAULT_ADMIN_ROLE, UPGRADER_ROLE, ARBITER_ROLE]) {
        expect(await marketplace.hasRole(role, tl)).to.equal(true);
      }
      expect(await marketplace.categoryCount()).to.equal(BigInt(CATEGORIES.length));
      expect(ethers.decodeBytes32String(await marketplace.categoryName(2))).to.equal("code");
    });

    it("publishes the deployed rules as terms version 1 (version 0 is never used)", async () => {
      const { marketplace } = await marketFixture();
      expect(await marketplace.currentTermsId()).to.equal(1n);
      const terms = await marketplace.getTerms(1);
      expect(terms.protocolFeeBps).to.equal(BigInt(LOCAL.protocolFeeBps));
      expect(terms.settlementGrace).to.equal(BigInt(LOCAL.settlementGrace));
      expect(terms.disputeWindow).to.equal(BigInt(LOCAL.disputeWindow));
      expect(terms.disputeResolutionPeriod).to.equal(BigInt(RESOLUTION));
      expect(terms.disputeSlashBps).to.equal(SLASH_BPS);
      expect(terms.disputeBond).to.equal(DISPUTE_BOND);
      const none = await marketplace.getTerms(0);
      expect([none.protocolFeeBps, none.disputeResolutionPeriod, none.disputeBond]).to.deep.equal([0n, 0n, 0n]);
    });

    it("lists the eight launch models with their categories, units and FTNS prices", async () => {
      const { marketplace } = await marketFixture();
      for (const [i, model] of LAUNCH_MODELS.entries()) {
        const listing = await marketplace.getListing(i + 1);
        expect(listing.category).to.equal(BigInt(CATEGORIES.indexOf(model.category)));
        expect(listing.unit).to.equal(BigInt(UNIT_IDS[model.unit]));
        expect(listing.pricePerUnit).to.equal(priceInFtns(model));
        expect(listing.status).to.equal(ListingStatus.Active);
        const json = JSON.parse(Buffer.from(listing.metadataURI.split(",")[1], "base64").toString());
        expect(json.name).to.equal(model.name);
        expect(listing.contentHash).to.equal(ethers.keccak256(ethers.toUtf8Bytes(JSON.stringify(json))));
      }
      // Local networks add the demo provider's own model right after them.
      const demo = await marketplace.getListing(LAUNCH_MODELS.length + 1);
      expect(JSON.parse(Buffer.from(demo.metadataURI.split(",")[1], "base64").toString()).name).to.equal(DEMO_MODEL.name);
      expect(demo.pricePerUnit).to.equal(priceInFtns(DEMO_MODEL));
      // GPT-4 Turbo: $0.03 per 1K tokens at 0.10 USD/FTNS = 0.0003 FTNS per token.
      expect((await marketplace.getListing(1)).pricePerUnit).to.equal(ftns("0.0003"));
    });

    it("passes the upgrade-safety validation", async () => {
      const { token, marketplace } = await marketFixture();
      // hardhat-upgrades reads constructorArgs here at run time, but its ValidateImplementationOptions type omits it.
      const options = { kind: "uups", constructorArgs: [await token.getAddress(), await marketplace.batchModule()] } as Parameters<
        typeof upgrades.validateImplementation
      >[1];
      await upgrades.validateImplementation(await ethers.getContractFactory("ModelMarketplace"), options);
    });

    it("refuses an implementation without a token or without a batch module", async () => {
      const { token, marketplace } = await marketFixture();
      const factory = await ethers.getContractFactory("ModelMarketplace");
      await expect(factory.deploy(ethers.ZeroAddress, await marketplace.batchModule()))
        .to.be.revertedWithCustomError(factory, "MarketplaceZeroAddress").withArgs("token");
      for (const module of [ethers.ZeroAddress, ethers.Wallet.createRandom().address]) {
        await expect(factory.deploy(await token.getAddress(), module))
          .to.be.revertedWithCustomError(factory, "MarketplaceZeroAddress").withArgs("batchModule");
      }
    });

    it("cannot be initialised again", async () => {
      const { marketplace, renter } = await marketFixture();
      const params = {
        admin: renter.address, treasury: renter.address, protocolFeeBps: 0, minProviderBond: 0, minEscrowDeposit: 0,
        maxEscrowDuration: 1, disputeWindow: 0, unbondingDelay: 0, settlementGrace: 0, disputeBond: 0,
        disputeResolutionPeriod: 1, disputeSlashBps: 0, attestationVerifier: ethers.ZeroAddress, categories: [],
      };
      await expect(marketplace.initialize(params)).to.be.revertedWithCustomError(marketplace, "InvalidInitialization");
    });
  });

  describe("listings", () => {
    it("lists a model, pulls the bond and emits everything an indexer needs", async () => {
      const { marketplace, provider, creator, token } = await marketFixture();
      const before = await token.balanceOf(provider.address);
      const next = (await marketplace.listingCount()) + 1n;
      await expect(
        marketplace.connect(provider).list(ethers.id("m2"), "ipfs://m2", 3, Unit.Second, ftns(1), creator.address, 100, ftns(150)),
      )
        .to.emit(marketplace, "Listed")
        .withArgs(next, provider.address, 3, ethers.id("m2"), "ipfs://m2", Unit.Second, ftns(1), creator.address, 100, ftns(150));
      expect(await token.balanceOf(provider.address)).to.equal(before - ftns(150));
      const listing = await marketplace.getListing(next);
      expect(listing.provider).to.equal(provider.address);
      expect(listing.bond).to.equal(ftns(150));
      expect(listing.metadataURI).to.equal("ipfs://m2");
    });

    it("rejects an unknown category, a zero price, a bad royalty and a bond below the minimum", async () => {
      const { marketplace, provider, creator } = await marketFixture();
      const list = (category: number, price: bigint, recipient: string, bps: number, bond: bigint) =>
        marketplace.connect(provider).list(ethers.ZeroHash, "", category, Unit.Token, price, recipient, bps, bond);
      await expect(list(6, ftns(1), ethers.ZeroAddress, 0, ftns(100)))
        .to.be.revertedWithCustomError(marketplace, "InvalidCategory").withArgs(6, 6);
      await expect(list(0, 0n, ethers.ZeroAddress, 0, ftns(100)))
        .to.be.revertedWithCustomError(marketplace, "InvalidPrice").withArgs(0);
      await expect(list(0, ftns(1), creator.address, 1_001, ftns(100)))
        .to.be.revertedWithCustomError(marketplace, "InvalidRoyalty").withArgs(creator.address, 1_001, 1_000);
      await expect(list(0, ftns(1), ethers.ZeroAddress, 10, ftns(100)))
        .to.be.revertedWithCustomError(marketplace, "InvalidRoyalty").withArgs(ethers.ZeroAddress, 10, 1_000);
      await expect(list(0, ftns(1), ethers.ZeroAddress, 0, ftns(99)))
        .to.be.revertedWithCustomError(marketplace, "BondTooLow").withArgs(ftns(99), ftns(100));
    });

    it("fails to list without the bond's allowance", async () => {
      const { marketplace, token, outsider } = await marketFixture();
      await expect(
        marketplace.connect(outsider).list(ethers.ZeroHash, "", 0, Unit.Token, 1n, ethers.ZeroAddress, 0, ftns(100)),
      ).to.be.revertedWithCustomError(token, "ERC20InsufficientAllowance");
    });

    it("lets only the provider change the price, which affects only escrows opened afterwards", async () => {
      const f = await marketFixture();
      const { marketplace, provider, outsider, listingId } = f;
      const { escrowId: before } = await openEscrow(f);
      await expect(marketplace.connect(outsider).setPrice(listingId, ftns(5)))
        .to.be.revertedWithCustomError(marketplace, "NotListingProvider").withArgs(listingId, outsider.address);
      await expect(marketplace.connect(provider).setPrice(listingId, 0))
        .to.be.revertedWithCustomError(marketplace, "InvalidPrice");
      await expect(marketplace.connect(provider).setPrice(listingId, ftns(5)))
        .to.emit(marketplace, "PriceUpdated").withArgs(listingId, PRICE, ftns(5));
      const { escrowId: after } = await openEscrow(f, { maxPrice: ftns(5) });
      expect((await marketplace.getEscrow(before)).pricePerUnit).to.equal(PRICE);
      expect((await marketplace.getEscrow(after)).pricePerUnit).to.equal(ftns(5));
      await chargeReceipt(f, before, 3n);
      expect((await marketplace.getEscrow(before)).charged).to.equal(ftns(6)); // 3 units at the old price
    });

    it("price changes after a renter's transaction cannot raise its price", async () => {
      const f = await marketFixture();
      const { marketplace, provider, renter, listingId } = f;
      const expiresAt = (await time.latest()) + 3600;
      // The renter saw 2 FTNS per unit; the provider's raise is mined first.
      await marketplace.connect(provider).setPrice(listingId, ftns(3));
      await expect(marketplace.connect(renter).openEscrow(listingId, ftns(100), ftns(100), expiresAt, PRICE))
        .to.be.revertedWithCustomError(marketplace, "PriceAboveMaximum").withArgs(listingId, ftns(3), PRICE);
      expect(await marketplace.escrowCount()).to.equal(0n);

      // The same race inside one block: the raise is ordered before the renter's transaction.
      await marketplace.connect(provider).setPrice(listingId, PRICE);
      await network.provider.send("evm_setAutomine", [false]);
      let raise: ContractTransactionResponse, open: ContractTransactionResponse;
      try {
        raise = await marketplace.connect(provider).setPrice(listingId, ftns(4), { gasLimit: 200_000 });
        open = await marketplace
          .connect(renter)
          .openEscrow(listingId, ftns(100), ftns(100), expiresAt, PRICE, { gasLimit: 500_000 });
        await network.provider.send("evm_mine", []);
      } finally {
        await network.provider.send("evm_setAutomine", [true]);
      }
      const raiseReceipt = await ethers.provider.getTransactionReceipt(raise!.hash);
      const openReceipt = await ethers.provider.getTransactionReceipt(open!.hash);
      expect(raiseReceipt!.status).to.equal(1);
      expect(openReceipt!.blockNumber).to.equal(raiseReceipt!.blockNumber);
      expect(openReceipt!.status).to.equal(0);
      expect(await marketplace.escrowCount()).to.equal(0n);

      // A lower price is fine: the maximum is a bound, and the escrow opens at the listing's price.
      await marketplace.connect(provider).setPrice(listingId, ftns(1));
      await marketplace.connect(renter).openEscrow(listingId, ftns(100), ftns(100), expiresAt, PRICE);
      expect((await marketplace.getEscrow(1n)).pricePerUnit).to.equal(ftns(1));
    });

    it("reverts with ListingNotFound for a listing that does not exist", async () => {
      const { marketplace, provider } = await marketFixture();
      await expect(marketplace.connect(provider).setPrice(999, 1n))
        .to.be.revertedWithCustomError(marketplace, "ListingNotFound").withArgs(999);
    });

    it("pauses and resumes renting without touching open escrows", async () => {
      const f = await marketFixture();
      const { marketplace, provider, listingId, outsider } = f;
      const { escrowId } = await openEscrow(f);
      await expect(marketplace.connect(outsider).setListingActive(listingId, false))
        .to.be.revertedWithCustomError(marketplace, "NotListingProvider");
      await expect(marketplace.connect(provider).setListingActive(listingId, false))
        .to.emit(marketplace, "ListingStatusChanged").withArgs(listingId, ListingStatus.Paused, 0);
      await expect(openEscrow(f))
        .to.be.revertedWithCustomError(marketplace, "ListingNotRentable")
        .withArgs(listingId, ListingStatus.Paused, ftns(100), ftns(100));
      await chargeReceipt(f, escrowId, 1n); // the open escrow still works
      await marketplace.connect(provider).setListingActive(listingId, true);
      await openEscrow(f);
    });

    it("makes a listing unrentable when governance raises the minimum bond, until the provider tops it up", async () => {
      const f = await marketFixture();
      const { marketplace, provider, listingId, treasury, outsider } = f;
      await marketplace.connect(treasury).setMinProviderBond(ftns(300));
      await expect(openEscrow(f)).to.be.revertedWithCustomError(marketplace, "ListingNotRentable");
      await expect(marketplace.connect(outsider).addBond(listingId, ftns(200)))
        .to.be.revertedWithCustomError(marketplace, "NotListingProvider");
      await expect(marketplace.connect(provider).addBond(listingId, ftns(200)))
        .to.emit(marketplace, "BondAdded").withArgs(listingId, ftns(200), ftns(300));
      await openEscrow(f);
    });

    it("locks the bond until delisted, unbonded and free of open escrows", async () => {
      const f = await marketFixture();
      const { marketplace, provider, listingId, outsider, token } = f;
      const { escrowId, expiresAt } = await openEscrow(f, { duration: 100 });
      await expect(marketplace.connect(provider).withdrawBond(listingId))
        .to.be.revertedWithCustomError(marketplace, "BondLocked").withArgs(listingId, 0, 1, 0);
      const tx = await marketplace.connect(provider).delist(listingId);
      const unbondingAt = BigInt((await time.latest()) + 600);
      await expect(tx).to.emit(marketplace, "ListingStatusChanged").withArgs(listingId, ListingStatus.Delisted, unbondingAt);
      await expect(marketplace.connect(provider).delist(listingId)).to.be.revertedWithCustomError(marketplace, "ListingIsDelisted");
      await expect(marketplace.connect(provider).setPrice(listingId, 1n)).to.be.revertedWithCustomError(marketplace, "ListingIsDelisted");
      await expect(marketplace.connect(provider).setListingActive(listingId, true)).to.be.revertedWithCustomError(marketplace, "ListingIsDelisted");
      await expect(marketplace.connect(provider).addBond(listingId, 1n)).to.be.revertedWithCustomError(marketplace, "ListingIsDelisted");
      await expect(openEscrow(f)).to.be.revertedWithCustomError(marketplace, "ListingNotRentable");
      await time.increaseTo(unbondingAt);
      await expect(marketplace.connect(provider).withdrawBond(listingId))
        .to.be.revertedWithCustomError(marketplace, "BondLocked").withArgs(listingId, unbondingAt, 1, 0);
      expect(BigInt(expiresAt + 60)).to.be.lessThan(unbondingAt); // the escrow is closable by now
      await marketplace.closeEscrow(escrowId);
      await expect(marketplace.connect(outsider).withdrawBond(listingId)).to.be.revertedWithCustomError(marketplace, "NotListingProvider");
      const before = await token.balanceOf(provider.address);
      await expect(marketplace.connect(provider).withdrawBond(listingId))
        .to.emit(marketplace, "BondWithdrawn").withArgs(listingId, provider.address, ftns(100));
      expect(await token.balanceOf(provider.address)).to.equal(before + ftns(100));
      expect((await marketplace.getListing(listingId)).bond).to.equal(0n);
    });
  });

  describe("opening escrows", () => {
    it("locks the deposit at the listing's price and records the terms in force", async () => {
      const f = await marketFixture();
      const { marketplace, renter, provider, listingId, token } = f;
      const expiresAt = (await time.latest()) + 3600;
      const held = await token.balanceOf(await marketplace.getAddress()); // the listings' bonds
      await expect(marketplace.connect(renter).openEscrow(listingId, ftns(100), ftns(80), expiresAt, PRICE))
        .to.emit(marketplace, "EscrowOpened")
        .withArgs(1n, listingId, renter.address, provider.address, ftns(100), ftns(80), PRICE, expiresAt);
      const escrow = await marketplace.getEscrow(1n);
      expect(escrow.status).to.equal(EscrowStatus.Open);
      expect(escrow.renter).to.equal(renter.address);
      expect(escrow.listingId).to.equal(listingId);
      expect(escrow.expiresAt).to.equal(BigInt(expiresAt));
      expect(escrow.deposit).to.equal(ftns(100));
      expect(escrow.spendCap).to.equal(ftns(80));
      expect(escrow.pricePerUnit).to.equal(PRICE);
      expect([escrow.charged, escrow.units, escrow.rated]).to.deep.equal([0n, 0n, false]);
      expect(escrow.termsId).to.equal(1n);
      expect(await token.balanceOf(await marketplace.getAddress())).to.equal(held + ftns(100));
      expect((await marketplace.getListing(listingId)).openEscrows).to.equal(1n);
    });

    it("rejects a zero cap, a cap above the deposit, a past expiry and an unknown listing", async () => {
      const { marketplace, renter, listingId } = await marketFixture();
      const later = (await time.latest()) + 100;
      await expect(marketplace.connect(renter).openEscrow(listingId, ftns(10), 0, later, PRICE))
        .to.be.revertedWithCustomError(marketplace, "InvalidDeposit").withArgs(ftns(10), 0);
      await expect(marketplace.connect(renter).openEscrow(listingId, ftns(10), ftns(11), later, PRICE))
        .to.be.revertedWithCustomError(marketplace, "InvalidDeposit").withArgs(ftns(10), ftns(11));
      const now = await time.latest();
      await expect(marketplace.connect(renter).openEscrow(listingId, ftns(10), ftns(10), now, PRICE))
        .to.be.revertedWithCustomError(marketplace, "InvalidExpiry");
      await expect(marketplace.connect(renter).openEscrow(999, ftns(10), ftns(10), later, PRICE))
        .to.be.revertedWithCustomError(marketplace, "ListingNotRentable").withArgs(999, ListingStatus.None, 0, ftns(100));
    });

    it("refuses a price above the renter's maximum (PriceAboveMaximum)", async () => {
      const f = await marketFixture();
      const { marketplace, renter, listingId } = f;
      const later = (await time.latest()) + 100;
      await expect(marketplace.connect(renter).openEscrow(listingId, ftns(10), ftns(10), later, PRICE - 1n))
        .to.be.revertedWithCustomError(marketplace, "PriceAboveMaximum").withArgs(listingId, PRICE, PRICE - 1n);
      await expect(marketplace.connect(renter).openEscrow(listingId, ftns(10), ftns(10), later, 0))
        .to.be.revertedWithCustomError(marketplace, "PriceAboveMaximum").withArgs(listingId, PRICE, 0);
      await marketplace.connect(renter).openEscrow(listingId, ftns(10), ftns(10), later, PRICE);
      await marketplace.connect(renter).openEscrow(listingId, ftns(10), ftns(10), later, MAX_UINT96);
      expect((await marketplace.getEscrow(2n)).pricePerUnit).to.equal(PRICE);
    });

    it("refuses a deposit below the governance minimum (DepositTooLow)", async () => {
      const f = await marketFixture();
      const { marketplace, renter, treasury, listingId } = f;
      const later = (await time.latest()) + 100;
      await expect(marketplace.connect(renter).openEscrow(listingId, MIN_DEPOSIT - 1n, MIN_DEPOSIT - 1n, later, PRICE))
        .to.be.revertedWithCustomError(marketplace, "DepositTooLow").withArgs(MIN_DEPOSIT - 1n, MIN_DEPOSIT);
      await expect(marketplace.connect(renter).openEscrow(listingId, 1n, 1n, later, PRICE))
        .to.be.revertedWithCustomError(marketplace, "DepositTooLow").withArgs(1n, MIN_DEPOSIT);
      await marketplace.connect(renter).openEscrow(listingId, MIN_DEPOSIT, 1n, later, PRICE);
      // Governance moves the minimum; escrows already open are not affected.
      await expect(marketplace.connect(treasury).setMinEscrowDeposit(ftns(1)))
        .to.emit(marketplace, "MinEscrowDepositUpdated").withArgs(MIN_DEPOSIT, ftns(1));
      expect(await marketplace.minEscrowDeposit()).to.equal(ftns(1));
      await expect(marketplace.connect(renter).openEscrow(listingId, ftns(1) - 1n, 1n, later, PRICE))
        .to.be.revertedWithCustomError(marketplace, "DepositTooLow").withArgs(ftns(1) - 1n, ftns(1));
      expect((await marketplace.getEscrow(1n)).status).to.equal(EscrowStatus.Open);
    });

    it("bounds the expiry to (now, now + maxEscrowDuration] (InvalidExpiry)", async () => {
      const f = await marketFixture();
      const { marketplace, renter, treasury, listingId } = f;
      const open = async (expiresAt: bigint) => {
        const at = (await time.latest()) + 10;
        await time.setNextBlockTimestamp(at);
        return { at: BigInt(at), tx: marketplace.connect(renter).openEscrow(listingId, ftns(1), ftns(1), expiresAt, PRICE) };
      };
      let now = BigInt((await time.latest()) + 10);
      let { at, tx } = await open(now);
      expect(at).to.equal(now);
      await expect(tx).to.be.revertedWithCustomError(marketplace, "InvalidExpiry").withArgs(now, now + BigInt(MAX_DURATION));
      now = BigInt((await time.latest()) + 10);
      ({ at, tx } = await open(now + BigInt(MAX_DURATION) + 1n));
      await expect(tx)
        .to.be.revertedWithCustomError(marketplace, "InvalidExpiry")
        .withArgs(at + BigInt(MAX_DURATION) + 1n, at + BigInt(MAX_DURATION));
      ({ tx } = await open(0n));
      await expect(tx).to.be.revertedWithCustomError(marketplace, "InvalidExpiry");
      // The bounds themselves: one second from now, and exactly the maximum duration.
      now = BigInt((await time.latest()) + 10);
      ({ tx } = await open(now + 1n));
      await expect(tx).to.emit(marketplace, "EscrowOpened");
      now = BigInt((await time.latest()) + 10);
      ({ tx } = await open(now + BigInt(MAX_DURATION)));
      await expect(tx).to.emit(marketplace, "EscrowOpened");
      // Governance shortens the maximum.
      await expect(marketplace.connect(treasury).setMaxEscrowDuration(DAY))
        .to.emit(marketplace, "MaxEscrowDurationUpdated").withArgs(MAX_DURATION, DAY);
      expect(await marketplace.maxEscrowDuration()).to.equal(BigInt(DAY));
      now = BigInt((await time.latest()) + 10);
      ({ at, tx } = await open(now + BigInt(DAY) + 1n));
      await expect(tx).to.be.revertedWithCustomError(marketplace, "InvalidExpiry").withArgs(at + BigInt(DAY) + 1n, at + BigInt(DAY));
    });

    it("opens with a permit in the same transaction, and tolerates a permit that was front-run", async () => {
      const { marketplace, token, outsider, treasury, listingId } = await marketFixture();
      await token.connect(treasury).transfer(outsider.address, ftns(50));
      const permitDeadline = await deadline();
      const { name, version, chainId, verifyingContract } = await token.eip712Domain();
      const sig = ethers.Signature.from(
        await outsider.signTypedData(
          { name, version, chainId, verifyingContract },
          { Permit: [
            { name: "owner", type: "address" }, { name: "spender", type: "address" }, { name: "value", type: "uint256" },
            { name: "nonce", type: "uint256" }, { name: "deadline", type: "uint256" },
          ] },
          { owner: outsider.address, spender: await marketplace.getAddress(), value: ftns(20), nonce: 0n, deadline: permitDeadline },
        ),
      );
      const expiresAt = (await time.latest()) + 3600;
      // The permit's checks are the same as openEscrow's: the maximum price is enforced.
      await expect(
        marketplace.connect(outsider).openEscrowWithPermit(listingId, ftns(20), ftns(20), expiresAt, PRICE - 1n, permitDeadline, sig.v, sig.r, sig.s),
      ).to.be.revertedWithCustomError(marketplace, "PriceAboveMaximum");
      // Someone submits the permit first: the escrow still opens on the resulting allowance.
      await token.permit(outsider.address, await marketplace.getAddress(), ftns(20), permitDeadline, sig.v, sig.r, sig.s);
      await marketplace.connect(outsider).openEscrowWithPermit(listingId, ftns(20), ftns(20), expiresAt, PRICE, permitDeadline, sig.v, sig.r, sig.s);
      expect((await marketplace.getEscrow(await marketplace.escrowCount())).renter).to.equal(outsider.address);
      // The allowance is now spent and the permit used: a replay cannot open another escrow.
      await expect(
        marketplace.connect(outsider).openEscrowWithPermit(listingId, ftns(20), ftns(20), expiresAt, PRICE, permitDeadline, sig.v, sig.r, sig.s),
      ).to.be.revertedWithCustomError(token, "ERC20InsufficientAllowance");
    });

    it("opens with a fresh permit and applies the minimum deposit and maximum duration to it too", async () => {
      const { marketplace, token, outsider, treasury, listingId } = await marketFixture();
      await token.connect(treasury).transfer(outsider.address, ftns(50));
      const permitDeadline = await deadline();
      const { name, version, chainId, verifyingContract } = await token.eip712Domain();
      const permit = async (value: bigint) => ethers.Signature.from(
        await outsider.signTypedData(
          { name, version, chainId, verifyingContract },
          { Permit: [
            { name: "owner", type: "address" }, { name: "spender", type: "address" }, { name: "value", type: "uint256" },
            { name: "nonce", type: "uint256" }, { name: "deadline", type: "uint256" },
          ] },
          { owner: outsider.address, spender: await marketplace.getAddress(), value, nonce: await token.nonces(outsider.address), deadline: permitDeadline },
        ),
      );
      const tiny = await permit(1n);
      await expect(
        marketplace.connect(outsider).openEscrowWithPermit(listingId, 1n, 1n, (await time.latest()) + 100, PRICE, permitDeadline, tiny.v, tiny.r, tiny.s),
      ).to.be.revertedWithCustomError(marketplace, "DepositTooLow");
      const sig = await permit(ftns(20));
      await expect(
        marketplace.connect(outsider).openEscrowWithPermit(listingId, ftns(20), ftns(20), MAX_UINT48, PRICE, permitDeadline, sig.v, sig.r, sig.s),
      ).to.be.revertedWithCustomError(marketplace, "InvalidExpiry");
      await marketplace.connect(outsider).openEscrowWithPermit(listingId, ftns(20), ftns(20), (await time.latest()) + 100, PRICE, permitDeadline, sig.v, sig.r, sig.s);
      expect(await token.balanceOf(outsider.address)).to.equal(ftns(30));
    });
  });

  describe("charging with renter receipts", () => {
    it("charges the new units and splits them into provider payout, protocol fee and royalty", async () => {
      const f = await marketFixture();
      const { marketplace, provider, creator, timelock } = f;
      const { escrowId } = await openEscrow(f);
      const amount = 10n * PRICE; // 20 FTNS
      const { fee, royalty } = split(amount);
      await expect(chargeReceipt(f, escrowId, 10n))
        .to.emit(marketplace, "UsageCharged").withArgs(escrowId, 0, 0, 10, 10, amount, false, ethers.ZeroHash, 0)
        .and.to.emit(marketplace, "ChargeSettled")
        .withArgs(escrowId, 0, provider.address, amount - fee - royalty, await timelock.getAddress(), fee, creator.address, royalty);
      expect(await marketplace.payoutOf(provider.address)).to.equal(amount - fee - royalty);
      expect(await marketplace.payoutOf(await timelock.getAddress())).to.equal(fee);
      expect(await marketplace.payoutOf(creator.address)).to.equal(royalty);
      // Cumulative: the next receipt charges only the 5 new units.
      await expect(chargeReceipt(f, escrowId, 15n))
        .to.emit(marketplace, "UsageCharged").withArgs(escrowId, 0, 0, 15, 5, 5n * PRICE, false, ethers.ZeroHash, 0);
      const escrow = await marketplace.getEscrow(escrowId);
      expect(escrow.charged).to.equal(15n * PRICE);
      expect(escrow.units).to.equal(15n);
    });

    it("accounts no new usage for a replayed, equal or lower receipt (NoNewUsage), changing nothing", async () => {
      const f = await marketFixture();
      const { marketplace } = f;
      const { escrowId } = await openEscrow(f);
      const dl = await deadline();
      const first = await signReceipt(marketplace, f.renter, { escrowId, cumulativeUnits: 5n, deadline: dl });
      await marketplace.chargeWithReceipt(escrowId, 5n, dl, first);
      await expect(marketplace.chargeWithReceipt(escrowId, 5n, dl, first))
        .to.be.revertedWithCustomError(marketplace, "NoNewUsage").withArgs(escrowId, 5, 5);
      await chargeReceipt(f, escrowId, 8n);
      await expect(marketplace.chargeWithReceipt(escrowId, 5n, dl, first))
        .to.be.revertedWithCustomError(marketplace, "NoNewUsage").withArgs(escrowId, 5, 8);
      await expect(chargeReceipt(f, escrowId, 8n)).to.be.revertedWithCustomError(marketplace, "NoNewUsage").withArgs(escrowId, 8, 8);
      await expect(chargeReceipt(f, escrowId, 7n)).to.be.revertedWithCustomError(marketplace, "NoNewUsage").withArgs(escrowId, 7, 8);
      await expect(chargeReceipt(f, escrowId, 0n)).to.be.revertedWithCustomError(marketplace, "NoNewUsage").withArgs(escrowId, 0, 8);
      const escrow = await marketplace.getEscrow(escrowId);
      expect([escrow.charged, escrow.units]).to.deep.equal([8n * PRICE, 8n]);
    });

    it("a renter's own receipt cannot void the provider's higher receipts", async () => {
      const f = await marketFixture();
      const { marketplace, renter, provider } = f;
      const { escrowId } = await openEscrow(f);
      await chargeReceipt(f, escrowId, 10n);
      // The provider holds the renter's receipt for 25 units, not yet submitted.
      const dl = await deadline();
      const held = await signReceipt(marketplace, renter, { escrowId, cumulativeUnits: 25n, deadline: dl });
      // The renter races it with receipts of its own for low cumulative values.
      await expect(chargeReceipt(f, escrowId, 10n, renter, renter))
        .to.be.revertedWithCustomError(marketplace, "NoNewUsage").withArgs(escrowId, 10, 10);
      await expect(chargeReceipt(f, escrowId, 11n, renter, renter))
        .to.emit(marketplace, "UsageCharged").withArgs(escrowId, 0, 0, 11, 1, PRICE, false, ethers.ZeroHash, 0);
      // The provider's receipt still charges exactly the difference: 25 - 11 units.
      await expect(marketplace.connect(provider).chargeWithReceipt(escrowId, 25n, dl, held))
        .to.emit(marketplace, "UsageCharged").withArgs(escrowId, 0, 0, 25, 14, 14n * PRICE, false, ethers.ZeroHash, 0);
      // Same for an attestation: the renter's +1 receipt, then the committee's higher report, under any sequence.
      await chargeReceipt(f, escrowId, 26n, renter, renter);
      await f.verifier.approve(escrowId, 40n, 1n, DIGEST);
      const tx = marketplace.chargeWithAttestation(escrowId, 40n, 1n, DIGEST, "0x");
      await expect(tx).to.emit(marketplace, "UsageCharged");
      const charge = await marketplace.getCharge(await marketplace.chargeCount());
      expect(charge.amount).to.equal(14n * PRICE);
      const escrow = await marketplace.getEscrow(escrowId);
      expect([escrow.units, escrow.charged]).to.deep.equal([40n, 40n * PRICE]);
    });

    it("never charges beyond the spend cap (and so never beyond the deposit)", async () => {
      const f = await marketFixture();
      const { escrowId } = await openEscrow(f, { deposit: ftns(100), cap: ftns(30) });
      await chargeReceipt(f, escrowId, 15n); // 30 FTNS: exactly the cap
      // More units than wei left under the cap: refused before the price is multiplied in (requested = max uint256).
      await expect(chargeReceipt(f, escrowId, 16n))
        .to.be.revertedWithCustomError(f.marketplace, "SpendCapExceeded").withArgs(escrowId, ethers.MaxUint256, 0);
      const { escrowId: second } = await openEscrow(f, { deposit: ftns(10) });
      await expect(chargeReceipt(f, second, 6n))
        .to.be.revertedWithCustomError(f.marketplace, "SpendCapExceeded").withArgs(second, ftns(12), ftns(10));
      // More units than the cap could pay for at 1 wei each: refused before the multiplication.
      await expect(chargeReceipt(f, second, ethers.MaxUint256))
        .to.be.revertedWithCustomError(f.marketplace, "SpendCapExceeded").withArgs(second, ethers.MaxUint256, ftns(10));
    });

    it("rejects an expired receipt", async () => {
      const f = await marketFixture();
      const { escrowId } = await openEscrow(f);
      const dl = BigInt(await time.latest());
      const sig = await signReceipt(f.marketplace, f.renter, { escrowId, cumulativeUnits: 1n, deadline: dl });
      await expect(f.marketplace.chargeWithReceipt(escrowId, 1n, dl, sig))
        .to.be.revertedWithCustomError(f.marketplace, "SignatureExpired").withArgs(dl);
    });

    it("rejects receipts signed by anyone but the renter", async () => {
      const f = await marketFixture();
      const { escrowId } = await openEscrow(f);
      await expect(chargeReceipt(f, escrowId, 1n, f.provider))
        .to.be.revertedWithCustomError(f.marketplace, "InvalidSignature").withArgs(escrowId, f.renter.address);
    });

    it("rejects a receipt from another escrow, another chain or another contract, or with other units", async () => {
      const f = await marketFixture();
      const { marketplace, renter } = f;
      const { escrowId: a } = await openEscrow(f);
      const { escrowId: b } = await openEscrow(f);
      const dl = await deadline();
      const forA = await signReceipt(marketplace, renter, { escrowId: a, cumulativeUnits: 1n, deadline: dl });
      await expect(marketplace.chargeWithReceipt(b, 1n, dl, forA)).to.be.revertedWithCustomError(marketplace, "InvalidSignature");
      await expect(marketplace.chargeWithReceipt(a, 2n, dl, forA)).to.be.revertedWithCustomError(marketplace, "InvalidSignature");
      const otherChain = await signReceipt(marketplace, renter, { escrowId: a, cumulativeUnits: 1n, deadline: dl }, { chainId: 137n });
      await expect(marketplace.chargeWithReceipt(a, 1n, dl, otherChain)).to.be.revertedWithCustomError(marketplace, "InvalidSignature");
      const otherContract = await signReceipt(marketplace, renter, { escrowId: a, cumulativeUnits: 1n, deadline: dl }, { verifyingContract: f.renter2.address });
      await expect(marketplace.chargeWithReceipt(a, 1n, dl, otherContract)).to.be.revertedWithCustomError(marketplace, "InvalidSignature");
      await marketplace.chargeWithReceipt(a, 1n, dl, forA);
    });

    it("accepts charges after expiry during the settlement grace, then refuses them", async () => {
      const f = await marketFixture();
      const { escrowId, expiresAt } = await openEscrow(f, { duration: 100 });
      await time.increaseTo(expiresAt + 30);
      await chargeReceipt(f, escrowId, 1n);
      await time.increaseTo(expiresAt + 61);
      await expect(chargeReceipt(f, escrowId, 2n))
        .to.be.revertedWithCustomError(f.marketplace, "SettlementPeriodOver").withArgs(escrowId, expiresAt + 60);
    });

    it("rejects charges to unknown and closed escrows", async () => {
      const f = await marketFixture();
      await expect(chargeReceipt(f, 999n, 1n)).to.be.revertedWithCustomError(f.marketplace, "EscrowNotFound").withArgs(999);
      const { escrowId, expiresAt } = await openEscrow(f, { duration: 100 });
      await time.increaseTo(expiresAt + 61);
      await f.marketplace.closeEscrow(escrowId);
      await expect(chargeReceipt(f, escrowId, 1n)).to.be.revertedWithCustomError(f.marketplace, "EscrowNotOpen").withArgs(escrowId);
    });
  });

  describe("protocol fee", () => {
    it("no charge escapes the fee", async () => {
      const f = await marketFixture();
      const { marketplace, provider, renter, timelock } = f;
      const tl = await timelock.getAddress();
      // A listing at 1 wei per unit, without royalty.
      await marketplace.connect(provider).list(ethers.ZeroHash, "", 0, Unit.Token, 1n, ethers.ZeroAddress, 0, ftns(100));
      const listingId = await marketplace.listingCount();
      const { escrowId } = await openEscrow(f, { listingId, deposit: MIN_DEPOSIT });
      // 1 unit = 1 wei at 250 bps: the fee is rounded up to 1 wei, the provider gets the rest (nothing).
      await expect(chargeReceipt(f, escrowId, 1n))
        .to.emit(marketplace, "ChargeSettled").withArgs(escrowId, 0, provider.address, 0, tl, 1, ethers.ZeroAddress, 0);
      expect(await marketplace.payoutOf(tl)).to.equal(1n);
      // Charged one unit at a time, it still pays at least 1 wei each time.
      for (let units = 2n; units <= 5n; units++) await chargeReceipt(f, escrowId, units);
      expect(await marketplace.payoutOf(tl)).to.equal(5n);
      expect(await marketplace.payoutOf(provider.address)).to.equal(0n);
      // 41 wei at 250 bps = 1.025 wei: rounded up to 2.
      await expect(chargeReceipt(f, escrowId, 46n))
        .to.emit(marketplace, "ChargeSettled").withArgs(escrowId, 0, provider.address, 39, tl, 2, ethers.ZeroAddress, 0);
      // An attested charge of 1 wei too, once released.
      const chargeId = await attest(f, escrowId, 47n);
      await time.increase(WINDOW + 1);
      await expect(marketplace.releaseCharge(chargeId))
        .to.emit(marketplace, "ChargeSettled").withArgs(escrowId, chargeId, provider.address, 0, tl, 1, ethers.ZeroAddress, 0);
      void renter;
    });

    it("rounds the fee up and the royalty down, and the split always adds up", async () => {
      const f = await marketFixture();
      const { marketplace, provider, creator, timelock } = f;
      const tl = await timelock.getAddress();
      await marketplace.connect(provider).list(ethers.ZeroHash, "", 0, Unit.Token, 1n, creator.address, 500, ftns(100));
      const listingId = await marketplace.listingCount();
      const { escrowId } = await openEscrow(f, { listingId, deposit: MIN_DEPOSIT });
      let accounted = 0n;
      for (const amount of [1n, 19n, 20n, 21n, 39n, 40n, 41n, 399n, 400n, 401n, 9_999n, 10_000n, 10_001n]) {
        accounted += amount;
        const s = split(amount);
        await expect(chargeReceipt(f, escrowId, accounted))
          .to.emit(marketplace, "ChargeSettled").withArgs(escrowId, 0, provider.address, s.provider, tl, s.fee, s.royalty ? creator.address : ethers.ZeroAddress, s.royalty);
        expect(s.fee * 10_000n).to.be.gte(amount * 250n);
        expect(s.fee + s.royalty + s.provider).to.equal(amount);
      }
    });

    it("takes no fee at 0 bps", async () => {
      const f = await marketFixture();
      const { marketplace, treasury, provider, timelock } = f;
      await marketplace.connect(treasury).setProtocolFee(0);
      const { escrowId } = await openEscrow(f);
      await chargeReceipt(f, escrowId, 1n);
      expect(await marketplace.payoutOf(await timelock.getAddress())).to.equal(0n);
      expect(await marketplace.payoutOf(provider.address)).to.equal(PRICE - (PRICE * 500n) / 10_000n);
    });
  });

  describe("attested charges", () => {
    it("holds an attested charge for the dispute window, then anyone releases it", async () => {
      const f = await marketFixture();
      const { marketplace, provider, outsider } = f;
      const { escrowId } = await openEscrow(f);
      await f.verifier.approve(escrowId, 10n, 7n, DIGEST);
      const disputableUntil = (await nextTimestamp()) + 300n;
      await expect(marketplace.chargeWithAttestation(escrowId, 10n, 7n, DIGEST, "0x"))
        .to.emit(marketplace, "UsageCharged").withArgs(escrowId, 1n, 7n, 10n, 10n, 10n * PRICE, true, DIGEST, disputableUntil);
      const chargeId = await marketplace.chargeCount();
      const charge = await marketplace.getCharge(chargeId);
      expect(charge.status).to.equal(ChargeStatus.Pending);
      expect(charge.escrowId).to.equal(escrowId);
      expect(charge.amount).to.equal(10n * PRICE);
      expect(charge.disputableUntil).to.equal(disputableUntil);
      expect(charge.resolveBy).to.equal(0n);
      expect((await marketplace.getEscrow(escrowId)).charged).to.equal(10n * PRICE); // counts against the cap at once
      expect(await marketplace.payoutOf(provider.address)).to.equal(0n);
      await expect(marketplace.releaseCharge(chargeId))
        .to.be.revertedWithCustomError(marketplace, "DisputeWindowOpen").withArgs(chargeId, charge.disputableUntil);
      await time.increaseTo(charge.disputableUntil + 1n);
      await expect(marketplace.connect(outsider).releaseCharge(chargeId)).to.emit(marketplace, "ChargeSettled");
      expect(await marketplace.payoutOf(provider.address)).to.equal(split(10n * PRICE).provider);
      await expect(marketplace.releaseCharge(chargeId))
        .to.be.revertedWithCustomError(marketplace, "ChargeNotPending").withArgs(chargeId, ChargeStatus.Released);
      await expect(marketplace.releaseCharge(999)).to.be.revertedWithCustomError(marketplace, "ChargeNotFound").withArgs(999);
    });

    it("needs a verifier and the verifier's approval", async () => {
      const f = await marketFixture();
      const { marketplace, treasury, verifier } = f;
      const { escrowId } = await openEscrow(f);
      await expect(marketplace.chargeWithAttestation(escrowId, 1n, 1n, DIGEST, "0x"))
        .to.be.revertedWithCustomError(verifier, "MockAttestationRejected").withArgs(escrowId, 1, 1);
      await expect(marketplace.connect(treasury).setAttestationVerifier(ethers.ZeroAddress))
        .to.emit(marketplace, "AttestationVerifierUpdated").withArgs(await verifier.getAddress(), ethers.ZeroAddress);
      await expect(marketplace.chargeWithAttestation(escrowId, 1n, 1n, DIGEST, "0x"))
        .to.be.revertedWithCustomError(marketplace, "AttestationVerifierNotSet");
    });

    it("orders receipts and attestations by cumulative units alone, whatever the sequence", async () => {
      const f = await marketFixture();
      const { marketplace } = f;
      const { escrowId } = await openEscrow(f);
      await chargeReceipt(f, escrowId, 5n);
      // An attested report at or below what the receipt accounted charges nothing new.
      for (const units of [5n, 4n]) {
        await f.verifier.approve(escrowId, units, 9n, DIGEST);
        await expect(marketplace.chargeWithAttestation(escrowId, units, 9n, DIGEST, "0x"))
          .to.be.revertedWithCustomError(marketplace, "NoNewUsage").withArgs(escrowId, units, 5);
      }
      // Higher units: charged for the difference, even with a sequence lower than one already used.
      await attest(f, escrowId, 9n, 9n);
      await attest(f, escrowId, 12n, 1n);
      expect((await marketplace.getCharge(1n)).amount).to.equal(4n * PRICE);
      expect((await marketplace.getCharge(2n)).amount).to.equal(3n * PRICE);
      // And a receipt below the attested units is refused in turn.
      await expect(chargeReceipt(f, escrowId, 11n)).to.be.revertedWithCustomError(marketplace, "NoNewUsage").withArgs(escrowId, 11, 12);
      expect((await marketplace.getEscrow(escrowId)).units).to.equal(12n);
    });

    it("refuses an attested charge beyond the cap or after the settlement period", async () => {
      const f = await marketFixture();
      const { marketplace } = f;
      const { escrowId, expiresAt } = await openEscrow(f, { deposit: ftns(10), duration: 100 });
      await f.verifier.approve(escrowId, 6n, 1n, DIGEST);
      await expect(marketplace.chargeWithAttestation(escrowId, 6n, 1n, DIGEST, "0x"))
        .to.be.revertedWithCustomError(marketplace, "SpendCapExceeded").withArgs(escrowId, ftns(12), ftns(10));
      await time.increaseTo(expiresAt + 61);
      await expect(marketplace.chargeWithAttestation(escrowId, 6n, 1n, DIGEST, "0x"))
        .to.be.revertedWithCustomError(marketplace, "SettlementPeriodOver").withArgs(escrowId, expiresAt + 60);
    });
  });

  describe("disputes", () => {
    it("lets only the renter dispute, only within the window, bonding the escrow's dispute bond", async () => {
      const f = await marketFixture();
      const { marketplace, renter, outsider, provider, token } = f;
      const { escrowId } = await openEscrow(f);
      const chargeId = await attest(f, escrowId, 10n);
      await expect(marketplace.connect(outsider).disputeCharge(chargeId))
        .to.be.revertedWithCustomError(marketplace, "NotEscrowRenter").withArgs(escrowId, outsider.address);
      await expect(marketplace.connect(provider).disputeCharge(chargeId))
        .to.be.revertedWithCustomError(marketplace, "NotEscrowRenter").withArgs(escrowId, provider.address);
      const held = await token.balanceOf(await marketplace.getAddress());
      const before = await token.balanceOf(renter.address);
      const resolveBy = (await nextTimestamp()) + BigInt(RESOLUTION);
      await expect(marketplace.connect(renter).disputeCharge(chargeId))
        .to.emit(marketplace, "ChargeDisputed").withArgs(chargeId, escrowId, renter.address, DISPUTE_BOND, resolveBy);
      expect(await token.balanceOf(renter.address)).to.equal(before - DISPUTE_BOND);
      expect(await token.balanceOf(await marketplace.getAddress())).to.equal(held + DISPUTE_BOND);
      const charge = await marketplace.getCharge(chargeId);
      expect([charge.status, charge.resolveBy]).to.deep.equal([ChargeStatus.Disputed, resolveBy]);
      await expect(marketplace.connect(renter).disputeCharge(chargeId))
        .to.be.revertedWithCustomError(marketplace, "ChargeNotPending").withArgs(chargeId, ChargeStatus.Disputed);
      await time.increase(301);
      // Release during a dispute: never.
      await expect(marketplace.releaseCharge(chargeId))
        .to.be.revertedWithCustomError(marketplace, "ChargeNotPending").withArgs(chargeId, ChargeStatus.Disputed);
      expect(await marketplace.payoutOf(provider.address)).to.equal(0n);
      const late = await attest(f, escrowId, 11n, 2n);
      await time.increase(301);
      const until = (await marketplace.getCharge(late)).disputableUntil;
      await expect(marketplace.connect(renter).disputeCharge(late))
        .to.be.revertedWithCustomError(marketplace, "DisputeWindowClosed").withArgs(late, until);
      await expect(marketplace.connect(renter).disputeCharge(999)).to.be.revertedWithCustomError(marketplace, "ChargeNotFound").withArgs(999);
    });

    it("can dispute until the last second of the window", async () => {
      const f = await marketFixture();
      const { escrowId } = await openEscrow(f);
      const chargeId = await attest(f, escrowId, 10n);
      const { disputableUntil } = await f.marketplace.getCharge(chargeId);
      await time.setNextBlockTimestamp(disputableUntil);
      await expect(f.marketplace.connect(f.renter).disputeCharge(chargeId)).to.emit(f.marketplace, "ChargeDisputed");
    });

    it("disputes cost a bond and end by a deadline", async () => {
      const f = await marketFixture();
      const { marketplace, renter, provider, treasury, outsider, token, listingId } = f;
      const { escrowId } = await openEscrow(f);
      const chargeId = await attest(f, escrowId, 10n);
      // Without the bond's allowance there is no dispute.
      await token.connect(renter).approve(await marketplace.getAddress(), DISPUTE_BOND - 1n);
      await expect(marketplace.connect(renter).disputeCharge(chargeId))
        .to.be.revertedWithCustomError(token, "ERC20InsufficientAllowance")
        .withArgs(await marketplace.getAddress(), DISPUTE_BOND - 1n, DISPUTE_BOND);
      expect((await marketplace.getCharge(chargeId)).status).to.equal(ChargeStatus.Pending);
      await token.connect(renter).approve(await marketplace.getAddress(), DISPUTE_BOND);
      await marketplace.connect(renter).disputeCharge(chargeId);
      expect(await token.allowance(renter.address, await marketplace.getAddress())).to.equal(0n);
      const { resolveBy } = await marketplace.getCharge(chargeId);
      // Before the deadline nobody can apply the default.
      await expect(marketplace.connect(outsider).resolveExpiredDispute(chargeId))
        .to.be.revertedWithCustomError(marketplace, "DisputeDeadlineNotReached").withArgs(chargeId, resolveBy);
      await time.setNextBlockTimestamp(resolveBy);
      await expect(marketplace.connect(outsider).resolveExpiredDispute(chargeId))
        .to.be.revertedWithCustomError(marketplace, "DisputeDeadlineNotReached").withArgs(chargeId, resolveBy);
      // After it the arbiter can no longer decide ...
      await time.increaseTo(resolveBy + 1n);
      await expect(marketplace.connect(treasury).resolveDispute(chargeId, false))
        .to.be.revertedWithCustomError(marketplace, "DisputeDeadlinePassed").withArgs(chargeId, resolveBy);
      await expect(marketplace.connect(treasury).resolveDispute(chargeId, true))
        .to.be.revertedWithCustomError(marketplace, "DisputeDeadlinePassed").withArgs(chargeId, resolveBy);
      // ... and anyone applies the default: the charge stands, the bond goes to the provider, nothing is slashed.
      const amount = 10n * PRICE;
      await expect(marketplace.connect(outsider).resolveExpiredDispute(chargeId))
        .to.emit(marketplace, "DisputeResolved").withArgs(chargeId, escrowId, true, amount, outsider.address, true)
        .and.to.emit(marketplace, "DisputeBondPaid").withArgs(chargeId, provider.address, DISPUTE_BOND)
        .and.to.emit(marketplace, "ChargeSettled")
        .and.not.to.emit(marketplace, "ProviderSlashed");
      expect((await marketplace.getCharge(chargeId)).status).to.equal(ChargeStatus.Released);
      expect(await marketplace.payoutOf(provider.address)).to.equal(split(amount).provider + DISPUTE_BOND);
      expect(await marketplace.payoutOf(renter.address)).to.equal(0n);
      expect((await marketplace.getListing(listingId)).bond).to.equal(ftns(100));
      expect((await marketplace.getEscrow(escrowId)).charged).to.equal(amount);
      await expect(marketplace.resolveExpiredDispute(chargeId))
        .to.be.revertedWithCustomError(marketplace, "ChargeNotDisputed").withArgs(chargeId, ChargeStatus.Released);
    });

    it("lets the arbiter resolve up to the deadline's last second", async () => {
      const f = await marketFixture();
      const { chargeId, resolveBy } = await disputed(f);
      await time.setNextBlockTimestamp(resolveBy);
      await expect(f.marketplace.connect(f.treasury).resolveDispute(chargeId, true))
        .to.emit(f.marketplace, "DisputeResolved").withArgs(chargeId, 1n, true, 10n * PRICE, await f.treasury.getAddress(), false);
    });

    it("refuses the arbiter after a dispute's deadline (DisputeDeadlinePassed)", async () => {
      const f = await marketFixture();
      const { chargeId, resolveBy } = await disputed(f);
      await time.increaseTo(resolveBy + 1n);
      for (const payProvider of [false, true]) {
        await expect(f.marketplace.connect(f.treasury).resolveDispute(chargeId, payProvider))
          .to.be.revertedWithCustomError(f.marketplace, "DisputeDeadlinePassed").withArgs(chargeId, resolveBy);
      }
      expect((await f.marketplace.getCharge(chargeId)).status).to.equal(ChargeStatus.Disputed);
    });

    it("refuses the default before a dispute's deadline (DisputeDeadlineNotReached)", async () => {
      const f = await marketFixture();
      const { chargeId, resolveBy } = await disputed(f);
      for (const caller of [f.outsider, f.provider, f.treasury]) {
        await expect(f.marketplace.connect(caller).resolveExpiredDispute(chargeId))
          .to.be.revertedWithCustomError(f.marketplace, "DisputeDeadlineNotReached").withArgs(chargeId, resolveBy);
      }
      expect((await f.marketplace.getCharge(chargeId)).status).to.equal(ChargeStatus.Disputed);
    });

    it("resolves a dispute once: to the renter (back to the escrow, bond back) or to the provider (normal split, bond to it)", async () => {
      const f = await marketFixture();
      const { marketplace, renter, treasury, provider, outsider, timelock } = f;
      const tl = await timelock.getAddress();
      const { escrowId } = await openEscrow(f);
      const first = await attest(f, escrowId, 10n, 1n);
      const second = await attest(f, escrowId, 15n, 2n);
      await marketplace.connect(renter).disputeCharge(first);
      await marketplace.connect(renter).disputeCharge(second);
      await expect(marketplace.connect(outsider).resolveDispute(first, false))
        .to.be.revertedWithCustomError(marketplace, "AccessControlUnauthorizedAccount").withArgs(outsider.address, ARBITER_ROLE);
      await expect(marketplace.connect(treasury).resolveDispute(first, false))
        .to.emit(marketplace, "DisputeResolved").withArgs(first, escrowId, false, 10n * PRICE, tl, false)
        .and.to.emit(marketplace, "DisputeBondPaid").withArgs(first, renter.address, DISPUTE_BOND)
        .and.to.emit(marketplace, "ProviderSlashed")
        .and.not.to.emit(marketplace, "ChargeSettled");
      expect((await marketplace.getCharge(first)).status).to.equal(ChargeStatus.Refunded);
      // The amount went back into the escrow (not to the renter's payouts); the bond came back as a payout.
      expect((await marketplace.getEscrow(escrowId)).charged).to.equal(5n * PRICE);
      expect(await marketplace.payoutOf(renter.address)).to.equal(DISPUTE_BOND);
      await expect(marketplace.connect(treasury).resolveDispute(second, true))
        .to.emit(marketplace, "DisputeBondPaid").withArgs(second, provider.address, DISPUTE_BOND)
        .and.to.emit(marketplace, "ChargeSettled")
        .and.not.to.emit(marketplace, "ProviderSlashed");
      expect((await marketplace.getCharge(second)).status).to.equal(ChargeStatus.Released);
      expect(await marketplace.payoutOf(provider.address)).to.equal(split(5n * PRICE).provider + DISPUTE_BOND);
      for (const id of [first, second]) {
        await expect(marketplace.connect(treasury).resolveDispute(id, true)).to.be.revertedWithCustomError(marketplace, "ChargeNotDisputed");
        await expect(marketplace.resolveExpiredDispute(id)).to.be.revertedWithCustomError(marketplace, "ChargeNotDisputed");
      }
      await expect(marketplace.connect(treasury).resolveDispute(999, true)).to.be.revertedWithCustomError(marketplace, "ChargeNotFound");
      await expect(marketplace.resolveExpiredDispute(999)).to.be.revertedWithCustomError(marketplace, "ChargeNotFound");
    });

    it("refuses to resolve a charge that is not disputed (ChargeNotDisputed)", async () => {
      const f = await marketFixture();
      const { escrowId } = await openEscrow(f);
      const chargeId = await attest(f, escrowId, 10n);
      await expect(f.marketplace.connect(f.treasury).resolveDispute(chargeId, false))
        .to.be.revertedWithCustomError(f.marketplace, "ChargeNotDisputed").withArgs(chargeId, ChargeStatus.Pending);
      await expect(f.marketplace.resolveExpiredDispute(chargeId))
        .to.be.revertedWithCustomError(f.marketplace, "ChargeNotDisputed").withArgs(chargeId, ChargeStatus.Pending);
    });

    it("a refunded dispute returns its amount to the escrow", async () => {
      const f = await marketFixture();
      const { marketplace, renter, treasury, token } = f;
      // Deposit 100, cap 40 FTNS = 20 units at 2 FTNS.
      const { escrowId, expiresAt } = await openEscrow(f, { deposit: ftns(100), cap: ftns(40), duration: 1000 });
      await chargeReceipt(f, escrowId, 5n); // 10 FTNS, settled
      const chargeId = await attest(f, escrowId, 15n); // 20 FTNS, disputed
      await marketplace.connect(renter).disputeCharge(chargeId);
      expect((await marketplace.getEscrow(escrowId)).charged).to.equal(ftns(30));
      await marketplace.connect(treasury).resolveDispute(chargeId, false);
      let escrow = await marketplace.getEscrow(escrowId);
      expect([escrow.charged, escrow.units]).to.deep.equal([ftns(10), 15n]);
      // The refunded units are not billable twice, by receipt or attestation.
      await expect(chargeReceipt(f, escrowId, 15n)).to.be.revertedWithCustomError(marketplace, "NoNewUsage").withArgs(escrowId, 15, 15);
      await f.verifier.approve(escrowId, 15n, 2n, DIGEST);
      await expect(marketplace.chargeWithAttestation(escrowId, 15n, 2n, DIGEST, "0x"))
        .to.be.revertedWithCustomError(marketplace, "NoNewUsage").withArgs(escrowId, 15, 15);
      // The renter's later honest usage is billable up to the full cap again: 30 FTNS = 15 more units.
      await chargeReceipt(f, escrowId, 25n);
      await attest(f, escrowId, 30n, 3n);
      escrow = await marketplace.getEscrow(escrowId);
      expect([escrow.charged, escrow.units]).to.deep.equal([ftns(40), 30n]);
      await expect(chargeReceipt(f, escrowId, 31n))
        .to.be.revertedWithCustomError(marketplace, "SpendCapExceeded").withArgs(escrowId, ethers.MaxUint256, 0);
      // At close, the renter gets everything not charged back: 100 - 40.
      await time.increaseTo(expiresAt + 61);
      const before = await token.balanceOf(renter.address);
      await expect(marketplace.closeEscrow(escrowId)).to.emit(marketplace, "EscrowClosed").withArgs(escrowId, anyValue, ftns(60), false);
      expect(await token.balanceOf(renter.address)).to.equal(before + ftns(60));
    });

    it("refunds a dispute on an escrow that has closed to the renter's payouts", async () => {
      const f = await marketFixture();
      const { marketplace, renter, provider, treasury, token } = f;
      const { escrowId, chargeId } = await disputed(f, 10n);
      // The provider closes the escrow while the dispute is open: the renter gets 100 - 20 back at once.
      const before = await token.balanceOf(renter.address);
      await marketplace.connect(provider).closeEscrowByProvider(escrowId);
      expect(await token.balanceOf(renter.address)).to.equal(before + ftns(80));
      await marketplace.connect(treasury).resolveDispute(chargeId, false);
      expect(await marketplace.payoutOf(renter.address)).to.equal(10n * PRICE + DISPUTE_BOND);
      const escrow = await marketplace.getEscrow(escrowId);
      expect([escrow.status, escrow.charged]).to.deep.equal([EscrowStatus.Closed, 10n * PRICE]);
      await marketplace.connect(renter).withdraw();
      // 80 at the close, then the refunded 20 and the bond back.
      expect(await token.balanceOf(renter.address)).to.equal(before + ftns(100) + DISPUTE_BOND);
    });

    it("a lost dispute slashes the provider's bond", async () => {
      const f = await marketFixture();
      const { marketplace, renter, provider, treasury, timelock, listingId } = f;
      const tl = await timelock.getAddress();
      const { escrowId } = await openEscrow(f);
      const won = await attest(f, escrowId, 10n, 1n);
      const lost = await attest(f, escrowId, 20n, 2n);
      const lostAgain = await attest(f, escrowId, 30n, 3n);
      for (const id of [won, lost, lostAgain]) await marketplace.connect(renter).disputeCharge(id);
      // A dispute the provider wins slashes nothing.
      await expect(marketplace.connect(treasury).resolveDispute(won, true)).not.to.emit(marketplace, "ProviderSlashed");
      expect((await marketplace.getListing(listingId)).bond).to.equal(ftns(100));
      const feeBefore = await marketplace.payoutOf(tl);
      // A lost one: 500 bps of the listing's 100 FTNS bond to the treasury.
      const slash = (ftns(100) * SLASH_BPS) / 10_000n;
      await expect(marketplace.connect(treasury).resolveDispute(lost, false))
        .to.emit(marketplace, "ProviderSlashed").withArgs(listingId, lost, slash, ftns(100) - slash);
      expect((await marketplace.getListing(listingId)).bond).to.equal(ftns(95));
      expect(await marketplace.payoutOf(tl)).to.equal(feeBefore + slash);
      // The next one slashes 500 bps of what is left.
      const slash2 = (ftns(95) * SLASH_BPS) / 10_000n;
      await expect(marketplace.connect(treasury).resolveDispute(lostAgain, false))
        .to.emit(marketplace, "ProviderSlashed").withArgs(listingId, lostAgain, slash2, ftns(95) - slash2);
      // Below the minimum bond, the listing cannot be rented until topped up.
      await expect(openEscrow(f)).to.be.revertedWithCustomError(marketplace, "ListingNotRentable");
      await marketplace.connect(provider).addBond(listingId, slash + slash2);
      await openEscrow(f);
      // The slashed FTNS are really there: the treasury withdraws them.
      await marketplace.withdrawFor(tl);
    });

    it("slashes nothing when the escrow's terms say 0 bps, and takes no bond when they say 0", async () => {
      const f = await marketFixture();
      const { marketplace, renter, treasury, token, listingId } = f;
      await expect(marketplace.connect(treasury).setDisputeTerms(0, 100, 0))
        .to.emit(marketplace, "TermsUpdated").withArgs(2, 250, GRACE, WINDOW, 100, 0, 0);
      const { escrowId } = await openEscrow(f);
      const chargeId = await attest(f, escrowId, 10n);
      const before = await token.balanceOf(renter.address);
      const resolveBy = (await nextTimestamp()) + 100n;
      await expect(marketplace.connect(renter).disputeCharge(chargeId))
        .to.emit(marketplace, "ChargeDisputed").withArgs(chargeId, escrowId, renter.address, 0, resolveBy);
      expect(await token.balanceOf(renter.address)).to.equal(before);
      await expect(marketplace.connect(treasury).resolveDispute(chargeId, false))
        .to.not.emit(marketplace, "ProviderSlashed")
        .and.not.to.emit(marketplace, "DisputeBondPaid");
      expect((await marketplace.getListing(listingId)).bond).to.equal(ftns(100));
      expect(await marketplace.payoutOf(renter.address)).to.equal(0n);
    });

    it("a provider cannot unbond its way out of a dispute's slash", async () => {
      // withdrawBond only waits for the unbonding delay and for open escrows, which the provider can end at once
      // (closeEscrowByProvider): a charge it had attested and the renter disputed can then be refunded with no
      // bond left to slash. (Live profile: unbonding 7 days, dispute window 14 days + resolution 14 days.)
      const f = await marketFixture();
      const { marketplace, renter, provider, treasury, listingId } = f;
      const { escrowId } = await openEscrow(f);
      await marketplace.connect(provider).delist(listingId); // unbonding starts; the escrow still runs
      await time.increase(500);
      const chargeId = await attest(f, escrowId, 10n);
      await marketplace.connect(renter).disputeCharge(chargeId);
      await marketplace.connect(provider).closeEscrowByProvider(escrowId);
      await time.increase(100); // unbonded, while the dispute has ~500 s to go
      expect((await marketplace.getCharge(chargeId)).resolveBy).to.be.greaterThan(BigInt(await time.latest()));
      await expect(marketplace.connect(provider).withdrawBond(listingId))
        .to.be.revertedWithCustomError(marketplace, "BondLocked").withArgs(listingId, anyValue, 0, 1);
      await expect(marketplace.connect(treasury).resolveDispute(chargeId, false)).to.emit(marketplace, "ProviderSlashed");
      // Resolved: the rest of the bond is the provider's again.
      expect((await marketplace.getListing(listingId)).unresolvedCharges).to.equal(0n);
      await expect(marketplace.connect(provider).withdrawBond(listingId)).to.emit(marketplace, "BondWithdrawn");
    });
  });

  describe("provider close", () => {
    it("lets the listing's provider close an escrow at once, refunding the unspent deposit; its charges stand", async () => {
      const f = await marketFixture();
      const { marketplace, renter, provider, outsider, token, listingId } = f;
      const { escrowId } = await openEscrow(f, { duration: 3600 });
      await chargeReceipt(f, escrowId, 10n); // 20 FTNS settled
      const chargeId = await attest(f, escrowId, 15n); // 10 FTNS pending
      const before = await token.balanceOf(renter.address);
      await expect(marketplace.connect(provider).closeEscrowByProvider(escrowId))
        .to.emit(marketplace, "EscrowClosed").withArgs(escrowId, provider.address, ftns(70), false);
      expect(await token.balanceOf(renter.address)).to.equal(before + ftns(70));
      const escrow = await marketplace.getEscrow(escrowId);
      expect(escrow.status).to.equal(EscrowStatus.Closed);
      expect((await marketplace.getListing(listingId)).openEscrows).to.equal(0n);
      // The pending charge still pays the provider after its window; nothing more can be charged.
      await expect(chargeReceipt(f, escrowId, 20n)).to.be.revertedWithCustomError(marketplace, "EscrowNotOpen").withArgs(escrowId);
      await time.increase(WINDOW + 1);
      await marketplace.connect(outsider).releaseCharge(chargeId);
      expect(await marketplace.payoutOf(provider.address)).to.equal(split(ftns(20)).provider + split(ftns(10)).provider);
      // The renter may rate it like any closed escrow.
      await marketplace.connect(renter).rate(escrowId, 2);
      await expect(marketplace.connect(provider).closeEscrowByProvider(escrowId))
        .to.be.revertedWithCustomError(marketplace, "EscrowNotOpen").withArgs(escrowId);
      await expect(marketplace.connect(provider).closeEscrowByProvider(999))
        .to.be.revertedWithCustomError(marketplace, "EscrowNotFound").withArgs(999);
    });

    it("refuses a provider close by anyone but the listing's provider (NotListingProvider)", async () => {
      const f = await marketFixture();
      const { marketplace, renter, outsider, treasury, provider, listingId } = f;
      const { escrowId } = await openEscrow(f);
      // Another provider's listing does not make it this escrow's provider.
      await marketplace.connect(f.renter2).list(ethers.ZeroHash, "", 0, Unit.Token, 1n, ethers.ZeroAddress, 0, ftns(100));
      for (const caller of [renter, outsider, treasury, f.renter2]) {
        await expect(marketplace.connect(caller).closeEscrowByProvider(escrowId))
          .to.be.revertedWithCustomError(marketplace, "NotListingProvider").withArgs(listingId, caller.address);
      }
      expect((await marketplace.getEscrow(escrowId)).status).to.equal(EscrowStatus.Open);
      await marketplace.connect(provider).closeEscrowByProvider(escrowId);
    });

    it("a 1-wei or overlong escrow cannot lock the provider's bond", async () => {
      const f = await marketFixture();
      const { marketplace, renter, renter2, provider, token, listingId } = f;
      const later = (await time.latest()) + 100;
      await expect(marketplace.connect(renter).openEscrow(listingId, 1n, 1n, later, PRICE))
        .to.be.revertedWithCustomError(marketplace, "DepositTooLow").withArgs(1n, MIN_DEPOSIT);
      const at = (await time.latest()) + 10;
      await time.setNextBlockTimestamp(at);
      await expect(marketplace.connect(renter).openEscrow(listingId, ftns(1), ftns(1), MAX_UINT48, PRICE))
        .to.be.revertedWithCustomError(marketplace, "InvalidExpiry").withArgs(MAX_UINT48, BigInt(at + MAX_DURATION));
      // The smallest and longest escrows that are allowed still cannot hold the bond: the provider ends them.
      const { escrowId: small } = await openEscrow(f, { deposit: MIN_DEPOSIT, cap: 1n, duration: MAX_DURATION });
      const { escrowId: long, expiresAt } = await openEscrow(f, { renter: renter2, deposit: ftns(1), duration: MAX_DURATION });
      await marketplace.connect(provider).delist(listingId);
      await expect(marketplace.connect(provider).closeEscrowByProvider(small))
        .to.emit(marketplace, "EscrowClosed").withArgs(small, provider.address, MIN_DEPOSIT, false);
      await expect(marketplace.connect(provider).closeEscrowByProvider(long))
        .to.emit(marketplace, "EscrowClosed").withArgs(long, provider.address, ftns(1), false);
      await time.increase(600);
      const before = await token.balanceOf(provider.address);
      await expect(marketplace.connect(provider).withdrawBond(listingId))
        .to.emit(marketplace, "BondWithdrawn").withArgs(listingId, provider.address, ftns(100));
      expect(await token.balanceOf(provider.address)).to.equal(before + ftns(100));
      expect(BigInt(await time.latest())).to.be.lessThan(BigInt(expiresAt) - 80n * BigInt(DAY));
    });
  });

  describe("terms versions", () => {
    it("publishes a new version for every change and never alters an old one", async () => {
      const f = await marketFixture();
      const { marketplace, treasury } = f;
      const v1 = await marketplace.getTerms(1);
      await expect(marketplace.connect(treasury).setProtocolFee(300))
        .to.emit(marketplace, "ProtocolFeeUpdated").withArgs(250, 300)
        .and.to.emit(marketplace, "TermsUpdated").withArgs(2, 300, GRACE, WINDOW, RESOLUTION, SLASH_BPS, DISPUTE_BOND);
      await expect(marketplace.connect(treasury).setSettlementGrace(120))
        .to.emit(marketplace, "SettlementGraceUpdated").withArgs(GRACE, 120)
        .and.to.emit(marketplace, "TermsUpdated").withArgs(3, 300, 120, WINDOW, RESOLUTION, SLASH_BPS, DISPUTE_BOND);
      await expect(marketplace.connect(treasury).setDisputeWindow(900))
        .to.emit(marketplace, "DisputeWindowUpdated").withArgs(WINDOW, 900)
        .and.to.emit(marketplace, "TermsUpdated").withArgs(4, 300, 120, 900, RESOLUTION, SLASH_BPS, DISPUTE_BOND);
      await expect(marketplace.connect(treasury).setDisputeTerms(ftns(3), 1200, 1000))
        .to.emit(marketplace, "TermsUpdated").withArgs(5, 300, 120, 900, 1200, 1000, ftns(3));
      expect(await marketplace.currentTermsId()).to.equal(5n);
      expect(await marketplace.protocolFeeBps()).to.equal(300n);
      expect(await marketplace.settlementGrace()).to.equal(120n);
      expect(await marketplace.disputeWindow()).to.equal(900n);
      expect(await marketplace.getTerms(1)).to.deep.equal(v1);
      const v5 = await marketplace.getTerms(5);
      expect([v5.protocolFeeBps, v5.settlementGrace, v5.disputeWindow, v5.disputeResolutionPeriod, v5.disputeSlashBps, v5.disputeBond])
        .to.deep.equal([300n, 120n, 900n, 1200n, 1000n, ftns(3)]);
      const { escrowId } = await openEscrow(f);
      expect((await marketplace.getEscrow(escrowId)).termsId).to.equal(5n);
    });

    it("open escrows keep the terms they opened with", async () => {
      const f = await marketFixture();
      const { marketplace, treasury, renter, renter2, provider, timelock, token, listingId } = f;
      const tl = await timelock.getAddress();
      const { escrowId: old, expiresAt: oldExpiry } = await openEscrow(f, { duration: 2000 });
      const pendingBefore = await attest(f, old, 10n, 1n); // attested under the old terms, released after the change
      // Governance (the timelock) changes every term.
      await marketplace.connect(treasury).setProtocolFee(1_000);
      await marketplace.connect(treasury).setSettlementGrace(3_600);
      await marketplace.connect(treasury).setDisputeWindow(1_000);
      await marketplace.connect(treasury).setDisputeTerms(ftns(5), 100, 2_000);
      const { escrowId: fresh, expiresAt: freshExpiry } = await openEscrow(f, { renter: renter2, duration: 2000 });
      expect((await marketplace.getEscrow(old)).termsId).to.equal(1n);
      expect((await marketplace.getEscrow(fresh)).termsId).to.equal(5n);

      // Fee: 250 bps for the old escrow, 1,000 for the new one (receipts settle at once).
      const atOld = split(5n * PRICE); // fee 0.25 FTNS
      const atNew = split(5n * PRICE, 1_000n); // fee 1 FTNS
      await expect(chargeReceipt(f, old, 15n))
        .to.emit(marketplace, "ChargeSettled").withArgs(old, 0, provider.address, atOld.provider, tl, atOld.fee, f.creator.address, atOld.royalty);
      await expect(chargeReceipt(f, fresh, 5n, renter2))
        .to.emit(marketplace, "ChargeSettled").withArgs(fresh, 0, provider.address, atNew.provider, tl, ftns(1), f.creator.address, atNew.royalty);

      // Dispute window: 300 s for the old escrow, 1,000 s for the new one.
      const oldCharge = await attest(f, old, 20n, 2n);
      expect((await marketplace.getCharge(oldCharge)).disputableUntil).to.equal(BigInt((await time.latest()) + WINDOW));
      const freshCharge = await attest(f, fresh, 10n, 1n);
      expect((await marketplace.getCharge(freshCharge)).disputableUntil).to.equal(BigInt((await time.latest()) + 1_000));

      // Dispute terms: the old escrow's renter bonds 1 FTNS with 600 s to resolve, the new one's 5 FTNS with 100 s.
      let balance = await token.balanceOf(renter.address);
      let at = await nextTimestamp();
      await expect(marketplace.connect(renter).disputeCharge(oldCharge))
        .to.emit(marketplace, "ChargeDisputed").withArgs(oldCharge, old, renter.address, DISPUTE_BOND, at + BigInt(RESOLUTION));
      expect(await token.balanceOf(renter.address)).to.equal(balance - DISPUTE_BOND);
      balance = await token.balanceOf(renter2.address);
      at = await nextTimestamp();
      await expect(marketplace.connect(renter2).disputeCharge(freshCharge))
        .to.emit(marketplace, "ChargeDisputed").withArgs(freshCharge, fresh, renter2.address, ftns(5), at + 100n);
      expect(await token.balanceOf(renter2.address)).to.equal(balance - ftns(5));
      // Slash: 500 bps of the bond for the old escrow's lost dispute, 2,000 for the new one's; bonds back as bonded.
      await expect(marketplace.connect(treasury).resolveDispute(oldCharge, false))
        .to.emit(marketplace, "ProviderSlashed").withArgs(listingId, oldCharge, ftns(5), ftns(95))
        .and.to.emit(marketplace, "DisputeBondPaid").withArgs(oldCharge, renter.address, DISPUTE_BOND);
      await expect(marketplace.connect(treasury).resolveDispute(freshCharge, false))
        .to.emit(marketplace, "ProviderSlashed").withArgs(listingId, freshCharge, ftns(19), ftns(76))
        .and.to.emit(marketplace, "DisputeBondPaid").withArgs(freshCharge, renter2.address, ftns(5));

      // The charge attested before the change is released at the old fee.
      await time.increase(WINDOW);
      await expect(marketplace.releaseCharge(pendingBefore))
        .to.emit(marketplace, "ChargeSettled").withArgs(old, pendingBefore, provider.address, split(10n * PRICE).provider, tl, split(10n * PRICE).fee, f.creator.address, split(10n * PRICE).royalty);

      // Settlement grace: the old escrow closes 60 s after expiry, the new one only after 3,600 s.
      await time.increaseTo(oldExpiry + GRACE + 1);
      await expect(chargeReceipt(f, old, 21n)).to.be.revertedWithCustomError(marketplace, "SettlementPeriodOver").withArgs(old, oldExpiry + GRACE);
      await chargeReceipt(f, fresh, 11n, renter2); // still within its grace
      await expect(marketplace.closeEscrow(fresh)).to.be.revertedWithCustomError(marketplace, "EscrowNotClosable").withArgs(fresh, freshExpiry + 3_600);
      await expect(marketplace.closeEscrow(old)).to.emit(marketplace, "EscrowClosed");
      await time.increaseTo(freshExpiry + 3_601);
      await expect(chargeReceipt(f, fresh, 12n, renter2)).to.be.revertedWithCustomError(marketplace, "SettlementPeriodOver");
      await expect(marketplace.closeEscrow(fresh)).to.emit(marketplace, "EscrowClosed");
    });

    it("keeps an escrow's dispute window and deadline when governance shortens them afterwards", async () => {
      const f = await marketFixture();
      const { marketplace, treasury, renter } = f;
      const { escrowId } = await openEscrow(f);
      await marketplace.connect(treasury).setDisputeWindow(0);
      await marketplace.connect(treasury).setDisputeTerms(DISPUTE_BOND, 1, SLASH_BPS);
      const chargeId = await attest(f, escrowId, 10n);
      await time.increase(WINDOW - 10);
      await marketplace.connect(renter).disputeCharge(chargeId); // 300 s window, not 0
      await time.increase(RESOLUTION - 10);
      await marketplace.connect(treasury).resolveDispute(chargeId, false); // 600 s to resolve, not 1
    });

    it("refuses a protocol fee above 1,000 bps in any new terms (FeeTooHigh)", async () => {
      const { marketplace, treasury } = await marketFixture();
      await expect(marketplace.connect(treasury).setProtocolFee(1_001))
        .to.be.revertedWithCustomError(marketplace, "FeeTooHigh").withArgs(1_001, 1_000);
      await expect(marketplace.connect(treasury).setProtocolFee(65_535))
        .to.be.revertedWithCustomError(marketplace, "FeeTooHigh").withArgs(65_535, 1_000);
      expect(await marketplace.currentTermsId()).to.equal(1n);
    });

    it("refuses a dispute slash above 10,000 bps (InvalidSlash)", async () => {
      const { marketplace, treasury } = await marketFixture();
      const admin = marketplace.connect(treasury);
      await expect(admin.setDisputeTerms(0, 600, 10_001)).to.be.revertedWithCustomError(marketplace, "InvalidSlash").withArgs(10_001, 10_000);
      await expect(admin.setDisputeTerms(0, 600, 65_535)).to.be.revertedWithCustomError(marketplace, "InvalidSlash").withArgs(65_535, 10_000);
      expect(await marketplace.currentTermsId()).to.equal(1n);
    });

    it("refuses periods out of bounds: above a year, a zero resolution period, an escrow duration of 0 or above 5 years (InvalidPeriod)", async () => {
      const { marketplace, treasury } = await marketFixture();
      const admin = marketplace.connect(treasury);
      await expect(admin.setSettlementGrace(MAX_PERIOD + 1n))
        .to.be.revertedWithCustomError(marketplace, "InvalidPeriod").withArgs("settlementGrace", MAX_PERIOD + 1n, MAX_PERIOD);
      await expect(admin.setSettlementGrace(MAX_UINT48)).to.be.revertedWithCustomError(marketplace, "InvalidPeriod");
      await expect(admin.setDisputeWindow(MAX_PERIOD + 1n))
        .to.be.revertedWithCustomError(marketplace, "InvalidPeriod").withArgs("disputeWindow", MAX_PERIOD + 1n, MAX_PERIOD);
      await expect(admin.setDisputeWindow(MAX_UINT48)).to.be.revertedWithCustomError(marketplace, "InvalidPeriod");
      await expect(admin.setDisputeTerms(0, MAX_PERIOD + 1n, 0))
        .to.be.revertedWithCustomError(marketplace, "InvalidPeriod").withArgs("disputeResolutionPeriod", MAX_PERIOD + 1n, MAX_PERIOD);
      await expect(admin.setDisputeTerms(0, 0, 0))
        .to.be.revertedWithCustomError(marketplace, "InvalidPeriod").withArgs("disputeResolutionPeriod", 0, MAX_PERIOD);
      await expect(admin.setUnbondingDelay(MAX_PERIOD + 1n))
        .to.be.revertedWithCustomError(marketplace, "InvalidPeriod").withArgs("unbondingDelay", MAX_PERIOD + 1n, MAX_PERIOD);
      await expect(admin.setMaxEscrowDuration(0))
        .to.be.revertedWithCustomError(marketplace, "InvalidPeriod").withArgs("maxEscrowDuration", 0, MAX_ESCROW_DURATION);
      await expect(admin.setMaxEscrowDuration(MAX_ESCROW_DURATION + 1n))
        .to.be.revertedWithCustomError(marketplace, "InvalidPeriod").withArgs("maxEscrowDuration", MAX_ESCROW_DURATION + 1n, MAX_ESCROW_DURATION);
      await expect(admin.setMaxEscrowDuration(2n ** 32n - 1n)).to.be.revertedWithCustomError(marketplace, "InvalidPeriod");
      // Nothing was published or changed by the refused calls.
      expect(await marketplace.currentTermsId()).to.equal(1n);
      expect(await marketplace.maxEscrowDuration()).to.equal(BigInt(MAX_DURATION));
      expect(await marketplace.unbondingDelay()).to.equal(600n);
    });

    it("accepts every bound itself", async () => {
      const { marketplace, treasury } = await marketFixture();
      const admin = marketplace.connect(treasury);
      await admin.setProtocolFee(1_000);
      await admin.setDisputeTerms(2n ** 80n - 1n, MAX_PERIOD, 10_000);
      await admin.setDisputeTerms(0, 1, 0);
      await admin.setSettlementGrace(MAX_PERIOD);
      await admin.setSettlementGrace(0);
      await admin.setDisputeWindow(MAX_PERIOD);
      await admin.setDisputeWindow(0);
      await admin.setUnbondingDelay(MAX_PERIOD);
      await admin.setUnbondingDelay(0);
      await admin.setMaxEscrowDuration(MAX_ESCROW_DURATION);
      await admin.setMaxEscrowDuration(1);
      await admin.setMinEscrowDeposit(2n ** 72n - 1n);
      await admin.setMinEscrowDeposit(0);
      expect(await marketplace.currentTermsId()).to.equal(8n);
      expect((await marketplace.getTerms(3)).disputeBond).to.equal(2n ** 80n - 1n);
      const last = await marketplace.getTerms(8);
      expect([last.protocolFeeBps, last.settlementGrace, last.disputeWindow, last.disputeResolutionPeriod, last.disputeSlashBps, last.disputeBond])
        .to.deep.equal([1_000n, 0n, 0n, 1n, 0n, 0n]);
    });

    it("can take the whole listing bond at 10,000 bps, and charges and closes still work at the longest periods", async () => {
      const f = await marketFixture();
      const { marketplace, treasury, renter, listingId } = f;
      await marketplace.connect(treasury).setDisputeTerms(DISPUTE_BOND, MAX_PERIOD, 10_000);
      await marketplace.connect(treasury).setSettlementGrace(MAX_PERIOD);
      await marketplace.connect(treasury).setDisputeWindow(MAX_PERIOD);
      await marketplace.connect(treasury).setMaxEscrowDuration(MAX_ESCROW_DURATION);
      const { escrowId, expiresAt } = await openEscrow(f, { duration: Number(MAX_ESCROW_DURATION) - 5 });
      const chargeId = await attest(f, escrowId, 10n);
      await time.increase(Number(MAX_PERIOD) - 10);
      await marketplace.connect(renter).disputeCharge(chargeId);
      await time.increase(Number(MAX_PERIOD) - 10);
      await expect(marketplace.connect(treasury).resolveDispute(chargeId, false))
        .to.emit(marketplace, "ProviderSlashed").withArgs(listingId, chargeId, ftns(100), 0);
      // The last second of the grace (uint256 arithmetic: expiry + grace), then closable.
      await time.increaseTo(BigInt(expiresAt) + MAX_PERIOD - 100n);
      await time.setNextBlockTimestamp(BigInt(expiresAt) + MAX_PERIOD);
      await chargeReceipt(f, escrowId, 11n);
      await expect(chargeReceipt(f, escrowId, 12n)).to.be.revertedWithCustomError(marketplace, "SettlementPeriodOver");
      await expect(marketplace.closeEscrow(escrowId)).to.emit(marketplace, "EscrowClosed");
    });
  });

  describe("closing, rating and withdrawing", () => {
    it("lets anyone close after expiry and grace, refunding the unspent deposit to the renter", async () => {
      const f = await marketFixture();
      const { marketplace, renter, outsider, token, listingId } = f;
      const { escrowId, expiresAt } = await openEscrow(f, { duration: 100 });
      await chargeReceipt(f, escrowId, 10n);
      await expect(marketplace.connect(outsider).closeEscrow(escrowId))
        .to.be.revertedWithCustomError(marketplace, "EscrowNotClosable").withArgs(escrowId, expiresAt + 60);
      await time.increaseTo(expiresAt + 61);
      const before = await token.balanceOf(renter.address);
      await expect(marketplace.connect(outsider).closeEscrow(escrowId))
        .to.emit(marketplace, "EscrowClosed").withArgs(escrowId, outsider.address, ftns(80), false);
      expect(await token.balanceOf(renter.address)).to.equal(before + ftns(80));
      expect((await marketplace.getListing(listingId)).openEscrows).to.equal(0n);
      await expect(marketplace.closeEscrow(escrowId)).to.be.revertedWithCustomError(marketplace, "EscrowNotOpen");
      await expect(marketplace.closeEscrow(999)).to.be.revertedWithCustomError(marketplace, "EscrowNotFound");
    });

    it("closes early by agreement, from either side, with the other side's signature", async () => {
      const f = await marketFixture();
      const { marketplace, renter, provider, outsider } = f;
      const { escrowId: a } = await openEscrow(f);
      const { escrowId: b } = await openEscrow(f);
      const dl = await deadline();
      await expect(marketplace.connect(renter).closeEscrowByAgreement(a, dl, await signClose(marketplace, provider, a, dl)))
        .to.emit(marketplace, "EscrowClosed").withArgs(a, renter.address, ftns(100), true);
      await expect(marketplace.connect(provider).closeEscrowByAgreement(b, dl, await signClose(marketplace, renter, a, dl)))
        .to.be.revertedWithCustomError(marketplace, "InvalidSignature").withArgs(b, renter.address);
      await expect(marketplace.connect(outsider).closeEscrowByAgreement(b, dl, await signClose(marketplace, renter, b, dl)))
        .to.be.revertedWithCustomError(marketplace, "NotEscrowParty").withArgs(b, outsider.address);
      const past = BigInt(await time.latest());
      await expect(marketplace.connect(provider).closeEscrowByAgreement(b, past, await signClose(marketplace, renter, b, past)))
        .to.be.revertedWithCustomError(marketplace, "SignatureExpired");
      await marketplace.connect(provider).closeEscrowByAgreement(b, dl, await signClose(marketplace, renter, b, dl));
      expect((await marketplace.getEscrow(b)).status).to.equal(EscrowStatus.Closed);
    });

    it("takes one rating from 1 to 5 per closed escrow, by its renter", async () => {
      const f = await marketFixture();
      const { marketplace, renter, provider, outsider, listingId } = f;
      const { escrowId } = await openEscrow(f);
      await expect(marketplace.connect(renter).rate(escrowId, 5)).to.be.revertedWithCustomError(marketplace, "EscrowNotClosed");
      const dl = await deadline();
      await marketplace.connect(renter).closeEscrowByAgreement(escrowId, dl, await signClose(marketplace, provider, escrowId, dl));
      await expect(marketplace.connect(outsider).rate(escrowId, 5)).to.be.revertedWithCustomError(marketplace, "NotEscrowRenter");
      for (const bad of [0, 6]) {
        await expect(marketplace.connect(renter).rate(escrowId, bad)).to.be.revertedWithCustomError(marketplace, "InvalidScore").withArgs(bad);
      }
      await expect(marketplace.connect(renter).rate(escrowId, 4))
        .to.emit(marketplace, "Rated").withArgs(escrowId, listingId, renter.address, 4);
      await expect(marketplace.connect(renter).rate(escrowId, 4)).to.be.revertedWithCustomError(marketplace, "AlreadyRated").withArgs(escrowId);
      const listing = await marketplace.getListing(listingId);
      expect([listing.ratingCount, listing.ratingSum]).to.deep.equal([1n, 4n]);
    });

    it("pays out by pull: withdraw, withdrawFor (e.g. the treasury), and nothing twice", async () => {
      const f = await marketFixture();
      const { marketplace, provider, token, timelock, outsider } = f;
      const { escrowId } = await openEscrow(f);
      await chargeReceipt(f, escrowId, 10n);
      const owed = await marketplace.payoutOf(provider.address);
      const before = await token.balanceOf(provider.address);
      await expect(marketplace.connect(provider).withdraw()).to.emit(marketplace, "Withdrawn").withArgs(provider.address, owed);
      expect(await token.balanceOf(provider.address)).to.equal(before + owed);
      await expect(marketplace.connect(provider).withdraw())
        .to.be.revertedWithCustomError(marketplace, "NothingToWithdraw").withArgs(provider.address);
      const tl = await timelock.getAddress();
      const fee = await marketplace.payoutOf(tl);
      const treasuryBefore = await token.balanceOf(tl);
      await marketplace.connect(outsider).withdrawFor(tl);
      expect(await token.balanceOf(tl)).to.equal(treasuryBefore + fee);
    });
  });

  describe("access control", () => {
    it("lets only the timelock (DEFAULT_ADMIN_ROLE) set each parameter, not the arbiter, the upgrader or anyone else", async () => {
      const { marketplace, treasury, outsider, provider, renter2 } = await marketFixture();
      // Holders of the other roles are no admins.
      await marketplace.connect(treasury).grantRole(ARBITER_ROLE, renter2.address);
      await marketplace.connect(treasury).grantRole(UPGRADER_ROLE, renter2.address);
      const calls: [string, unknown[], string][] = [
        ["setProtocolFee", [300], "ProtocolFeeUpdated"],
        ["setSettlementGrace", [100], "SettlementGraceUpdated"],
        ["setDisputeWindow", [100], "DisputeWindowUpdated"],
        ["setDisputeTerms", [ftns(2), 900, 700], "TermsUpdated"],
        ["setTreasury", [outsider.address], "TreasuryUpdated"],
        ["setMinProviderBond", [ftns(1)], "MinProviderBondUpdated"],
        ["setMinEscrowDeposit", [ftns(1)], "MinEscrowDepositUpdated"],
        ["setMaxEscrowDuration", [DAY], "MaxEscrowDurationUpdated"],
        ["setUnbondingDelay", [100], "UnbondingDelayUpdated"],
        ["setAttestationVerifier", [outsider.address], "AttestationVerifierUpdated"],
        ["addCategory", [ethers.encodeBytes32String("video")], "CategoryAdded"],
      ];
      for (const [fn, args, event] of calls) {
        const data = (marketplace.interface as Interface).encodeFunctionData(fn, args);
        for (const caller of [outsider, provider, renter2]) {
          await expect(caller.sendTransaction({ to: await marketplace.getAddress(), data }))
            .to.be.revertedWithCustomError(marketplace, "AccessControlUnauthorizedAccount")
            .withArgs(caller.address, DEFAULT_ADMIN_ROLE);
        }
        await expect(treasury.sendTransaction({ to: await marketplace.getAddress(), data })).to.emit(marketplace, event);
      }
      expect(await marketplace.protocolFeeBps()).to.equal(300n);
      expect(await marketplace.settlementGrace()).to.equal(100n);
      expect(await marketplace.disputeWindow()).to.equal(100n);
      const terms = await marketplace.getTerms(await marketplace.currentTermsId());
      expect([terms.disputeBond, terms.disputeResolutionPeriod, terms.disputeSlashBps]).to.deep.equal([ftns(2), 900n, 700n]);
      expect(await marketplace.treasury()).to.equal(outsider.address);
      expect(await marketplace.minEscrowDeposit()).to.equal(ftns(1));
      expect(await marketplace.maxEscrowDuration()).to.equal(BigInt(DAY));
      expect(ethers.decodeBytes32String(await marketplace.categoryName(6))).to.equal("video");
    });

    it("lets only the arbiter resolve a dispute, and not an admin without the role", async () => {
      const f = await marketFixture();
      const { marketplace, treasury, outsider, renter, provider } = f;
      await marketplace.connect(treasury).grantRole(DEFAULT_ADMIN_ROLE, outsider.address);
      const { chargeId } = await disputed(f);
      for (const caller of [outsider, renter, provider]) {
        for (const payProvider of [true, false]) {
          await expect(marketplace.connect(caller).resolveDispute(chargeId, payProvider))
            .to.be.revertedWithCustomError(marketplace, "AccessControlUnauthorizedAccount").withArgs(caller.address, ARBITER_ROLE);
        }
      }
      await marketplace.connect(treasury).resolveDispute(chargeId, true);
    });

    it("lets the timelock appoint an arbitration council", async () => {
      const f = await marketFixture();
      const { marketplace, treasury, outsider, renter } = f;
      await marketplace.connect(treasury).grantRole(ARBITER_ROLE, outsider.address);
      const { escrowId } = await openEscrow(f);
      const chargeId = await attest(f, escrowId, 1n);
      await marketplace.connect(renter).disputeCharge(chargeId);
      await marketplace.connect(outsider).resolveDispute(chargeId, false);
      expect((await marketplace.getCharge(chargeId)).status).to.equal(ChargeStatus.Refunded);
    });

    it("lets anyone (renter, provider, outsider) apply an expired dispute's default", async () => {
      const f = await marketFixture();
      const { marketplace, renter, provider, outsider } = f;
      const charges: bigint[] = [];
      for (let i = 0; i < 3; i++) charges.push((await disputed(f)).chargeId);
      await time.increase(RESOLUTION + 1);
      for (const [i, caller] of [renter, provider, outsider].entries()) {
        await expect(marketplace.connect(caller).resolveExpiredDispute(charges[i]))
          .to.emit(marketplace, "DisputeResolved").withArgs(charges[i], BigInt(i + 1), true, 10n * PRICE, caller.address, true);
      }
    });

    it("lets only the listing's provider close early on its own, and only the renter dispute", async () => {
      const f = await marketFixture();
      const { marketplace, outsider, provider, creator, listingId } = f;
      const { escrowId } = await openEscrow(f);
      const chargeId = await attest(f, escrowId, 1n);
      for (const caller of [outsider, creator, f.treasury]) {
        await expect(marketplace.connect(caller).closeEscrowByProvider(escrowId))
          .to.be.revertedWithCustomError(marketplace, "NotListingProvider").withArgs(listingId, caller.address);
        await expect(marketplace.connect(caller).disputeCharge(chargeId))
          .to.be.revertedWithCustomError(marketplace, "NotEscrowRenter").withArgs(escrowId, caller.address);
      }
      await expect(marketplace.connect(provider).disputeCharge(chargeId))
        .to.be.revertedWithCustomError(marketplace, "NotEscrowRenter").withArgs(escrowId, provider.address);
    });
  });

  describe("governance parameters", () => {
    it("caps the protocol fee at 1,000 bps and refuses a zero treasury", async () => {
      const { marketplace, treasury } = await marketFixture();
      await marketplace.connect(treasury).setProtocolFee(1_000);
      await expect(marketplace.connect(treasury).setProtocolFee(1_001))
        .to.be.revertedWithCustomError(marketplace, "FeeTooHigh").withArgs(1_001, 1_000);
      await expect(marketplace.connect(treasury).setTreasury(ethers.ZeroAddress))
        .to.be.revertedWithCustomError(marketplace, "MarketplaceZeroAddress").withArgs("treasury");
    });

    it("splits a charge at the maximum fee and royalty without losing a wei", async () => {
      const f = await marketFixture();
      const { marketplace, treasury, provider, creator, timelock } = f;
      await marketplace.connect(treasury).setProtocolFee(1_000);
      await marketplace.connect(provider).list(ethers.ZeroHash, "", 0, Unit.Token, 7n, creator.address, 1_000, ftns(100));
      const listingId = await marketplace.listingCount();
      await marketplace.connect(f.renter).openEscrow(listingId, MIN_DEPOSIT, 1_000n, (await time.latest()) + 100, 7n);
      const escrowId = await marketplace.escrowCount();
      await chargeReceipt(f, escrowId, 13n); // 91 raw units: fee ceil(9.1) = 10, royalty floor(9.1) = 9, provider 72
      expect(await marketplace.payoutOf(await timelock.getAddress())).to.equal(10n);
      expect(await marketplace.payoutOf(creator.address)).to.equal(9n);
      expect(await marketplace.payoutOf(provider.address)).to.equal(72n);
      // 1 wei at the maximum fee and royalty: the fee takes it.
      await chargeReceipt(f, escrowId, 14n); // 7 wei: fee 1, royalty 0, provider 6
      await marketplace.connect(provider).list(ethers.ZeroHash, "", 0, Unit.Token, 1n, creator.address, 1_000, ftns(100));
      await marketplace.connect(f.renter).openEscrow(listingId + 1n, MIN_DEPOSIT, 1_000n, (await time.latest()) + 100, 1n);
      await expect(chargeReceipt(f, escrowId + 1n, 1n))
        .to.emit(marketplace, "ChargeSettled").withArgs(escrowId + 1n, 0, provider.address, 0, await timelock.getAddress(), 1, ethers.ZeroAddress, 0);
    });
  });

  describe("overflow-prone inputs", () => {
    it("never panics on random expiresAt, deposit, spendCap and cumulativeUnits near their type bounds", async function () {
      this.timeout(10 * 60_000);
      const f = await marketFixture();
      const { marketplace, token, verifier, provider, renter, treasury } = f;
      // Let the longest escrows in, and list at the extreme prices: 1 wei and the largest uint96.
      await marketplace.connect(treasury).setMaxEscrowDuration(MAX_ESCROW_DURATION);
      await marketplace.connect(provider).list(ethers.ZeroHash, "", 0, Unit.Token, 1n, ethers.ZeroAddress, 0, ftns(100));
      const cheap = await marketplace.listingCount();
      await marketplace.connect(provider).list(ethers.ZeroHash, "", 0, Unit.Token, MAX_UINT96, ethers.ZeroAddress, 0, ftns(100));
      const dear = await marketplace.listingCount();
      const listings = [f.listingId, cheap, dear];
      await token.connect(treasury).transfer(renter.address, ftns(10_000_000));
      const escrows: bigint[] = [];
      // Escrows at each extreme price, with caps large enough for huge unit counts (1M FTNS is about 2^80 wei).
      for (const [listingId, deposit] of [[cheap, ftns(1_000_000)], [dear, ftns(1_000_000)], [f.listingId, ftns(1_000)]] as const) {
        const price = (await marketplace.getListing(listingId)).pricePerUnit;
        await marketplace.connect(renter).openEscrow(listingId, deposit, deposit, BigInt(await time.latest()) + MAX_ESCROW_DURATION, price);
        escrows.push(await marketplace.escrowCount());
      }

      // Errors a refusal may carry: the marketplace's, the token's and the verifier's, never a panic or bare revert.
      const known = [marketplace.interface, token.interface, verifier.interface];
      const seen: Record<string, number> = {};
      const outcome = async (call: () => Promise<unknown>) => {
        try {
          await call();
          seen.ok = (seen.ok ?? 0) + 1;
          return true;
        } catch (e) {
          const data = revertData(e);
          expect(data, `no revert data: ${(e as Error).message}`).to.be.a("string");
          expect(data!.length, `bare revert: ${(e as Error).message}`).to.be.greaterThan(2);
          expect(data!.slice(0, 10), `panic: ${data}`).to.not.equal("0x4e487b71");
          const parsed = known.map((i) => i.parseError(data!)).find((p) => p !== null);
          expect(parsed, `unknown error ${data}`).to.not.equal(undefined);
          seen[parsed!.name] = (seen[parsed!.name] ?? 0) + 1;
          return false;
        }
      };

      let seed = 0xf00d;
      const rand = () => {
        seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
        return seed / 2 ** 31;
      };
      const pick = <T>(items: T[]): T => items[Math.floor(rand() * items.length)];
      const randBits = (bits: number) => {
        let v = 0n;
        for (let i = 0; i < bits; i += 24) v = (v << 24n) | BigInt(Math.floor(rand() * 2 ** 24));
        return v & ((1n << BigInt(bits)) - 1n);
      };
      const near = (bound: bigint) => {
        const d = randBits(16);
        return rand() < 0.5 ? (bound > d ? bound - d : 0n) : bound + d;
      };
      const clamp = (v: bigint, max: bigint) => (v < 0n ? 0n : v > max ? max : v);

      // The staticCall that predicts an outcome and the transaction that follows must see the same block time: with
      // the clock free, a busy machine lets a second pass between them and an expiry at exactly the limit flips.
      const pinNextBlock = async () => time.setNextBlockTimestamp((await time.latest()) + 1);

      for (let i = 0; i < 160; i++) {
        const balance = await token.balanceOf(renter.address);
        await pinNextBlock();
        const now = BigInt(await time.latest()) + 1n;
        const latest = now + MAX_ESCROW_DURATION;
        const expiresAt = clamp(pick([0n, 1n, now - 1n, now, now + 1n, latest - 1n, latest, latest + 1n, near(latest),
          2n ** 32n, MAX_UINT48 - 1n, MAX_UINT48, near(MAX_UINT48), randBits(48)]), MAX_UINT48);
        const deposit = clamp(pick([0n, 1n, MIN_DEPOSIT - 1n, MIN_DEPOSIT, near(MIN_DEPOSIT), balance / 1_000n, balance, balance + 1n, near(balance),
          MAX_UINT96, MAX_UINT96 - 1n, near(MAX_UINT96), 2n ** 64n, randBits(96), randBits(70)]), MAX_UINT96);
        const spendCap = clamp(pick([0n, 1n, deposit - 1n, deposit, deposit + 1n, MAX_UINT96, near(MAX_UINT96), 2n ** 64n, randBits(96), randBits(66)]), MAX_UINT96);
        const listingId = pick(listings);
        const price = (await marketplace.getListing(listingId)).pricePerUnit;
        const maxPrice = clamp(pick([0n, price - 1n, price, price + 1n, MAX_UINT96]), MAX_UINT96);
        const args = [listingId, deposit, spendCap, expiresAt, maxPrice] as const;
        if (await outcome(() => marketplace.connect(renter).openEscrow.staticCall(...args))) {
          await marketplace.connect(renter).openEscrow(...args);
          escrows.push(await marketplace.escrowCount());
        }
      }

      for (let i = 0; i < 400; i++) {
        const escrowId = pick(escrows);
        const e = await marketplace.getEscrow(escrowId);
        const room = (e.spendCap - e.charged) / e.pricePerUnit;
        const cumulativeUnits = pick([0n, 1n, e.units, e.units + 1n, e.units + 1n + randBits(8), e.units + room,
          e.units + room + 1n, MAX_UINT64 - 1n, MAX_UINT64, MAX_UINT64 + 1n, near(MAX_UINT64), MAX_UINT96, 2n ** 192n,
          ethers.MaxUint256, ethers.MaxUint256 - 1n, randBits(64), randBits(256)]);
        let executed = false;
        if (rand() < 0.5) {
          const dl = pick([BigInt(await time.latest()) - 1n, BigInt(await time.latest()) + 600n, ethers.MaxUint256]);
          const sig = await signReceipt(marketplace, renter, { escrowId, cumulativeUnits, deadline: dl });
          const call = () => marketplace.chargeWithReceipt.staticCall(escrowId, cumulativeUnits, dl, sig);
          await pinNextBlock();
          if ((await outcome(call)) && (executed = rand() < 0.7)) await marketplace.chargeWithReceipt(escrowId, cumulativeUnits, dl, sig);
        } else {
          const sequence = pick([0n, 1n, MAX_UINT64, randBits(64)]);
          await verifier.approve(escrowId, cumulativeUnits, sequence, DIGEST);
          const call = () => marketplace.chargeWithAttestation.staticCall(escrowId, cumulativeUnits, sequence, DIGEST, "0x");
          await pinNextBlock();
          if ((await outcome(call)) && (executed = rand() < 0.7)) {
            await marketplace.chargeWithAttestation(escrowId, cumulativeUnits, sequence, DIGEST, "0x");
          }
        }
        const after = await marketplace.getEscrow(escrowId);
        expect(after.charged <= after.spendCap && after.spendCap <= after.deposit && after.units >= e.units).to.equal(true);
        if (executed) {
          // Exactly the new units, at the escrow's price.
          expect(after.units).to.equal(cumulativeUnits);
          expect(after.charged - e.charged).to.equal((cumulativeUnits - e.units) * e.pricePerUnit);
        } else {
          expect([after.units, after.charged]).to.deep.equal([e.units, e.charged]);
        }
        if (i % 40 === 39) {
          // Closing (early by the provider, or after expiry far ahead) never overflows either.
          const id = pick(escrows);
          await outcome(() => marketplace.connect(provider).closeEscrowByProvider.staticCall(id));
          await outcome(() => marketplace.closeEscrow.staticCall(id));
        }
      }
      // Far in the future (the longest escrow plus grace), every escrow closes; none panics.
      await time.increase(Number(MAX_ESCROW_DURATION) + 120);
      for (const id of escrows) {
        if ((await outcome(() => marketplace.closeEscrow.staticCall(id)))) await marketplace.closeEscrow(id);
      }
      if (process.env.FUZZ_VERBOSE) process.stdout.write(`      outcomes: ${JSON.stringify(seen)}\n`);
      expect(seen.ok ?? 0).to.be.greaterThan(0);
      for (const name of ["InvalidExpiry", "DepositTooLow", "InvalidDeposit", "PriceAboveMaximum", "NoNewUsage", "SpendCapExceeded"]) {
        expect(seen[name] ?? 0, `${name} never seen: ${JSON.stringify(seen)}`).to.be.greaterThan(0);
      }
    });
  });
});

/** The revert data of a failed call, wherever ethers or Hardhat put it. */
function revertData(e: unknown): string | undefined {
  const seen = new Set<unknown>();
  const visit = (x: unknown): string | undefined => {
    if (x === null || typeof x !== "object" || seen.has(x)) return undefined;
    seen.add(x);
    const o = x as Record<string, unknown>;
    if (typeof o.data === "string" && o.data.startsWith("0x")) return o.data;
    for (const key of ["error", "info", "cause", "data"]) {
      const found = visit(o[key]);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  return visit(e);
}
