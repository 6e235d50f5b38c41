import { expect } from "chai";
import { deployments, ethers, upgrades } from "hardhat";
import { time } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import type { Interface } from "ethers";
import { CATEGORIES } from "../../config/parameters";
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

/**
 * Deployed protocol (local profile: fee 250 bps, min bond 100 FTNS, dispute window 300 s, unbonding 600 s,
 * settlement grace 60 s) plus a listing at 2 FTNS per token with a 5% creator royalty, funded renters, and a
 * test attestation verifier.
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

async function openEscrow(f: Fixture, opts: { renter?: HardhatEthersSigner; deposit?: bigint; cap?: bigint; duration?: number } = {}) {
  const renter = opts.renter ?? f.renter;
  const deposit = opts.deposit ?? ftns(100);
  const expiresAt = (await time.latest()) + (opts.duration ?? 3600);
  await f.marketplace.connect(renter).openEscrow(f.listingId, deposit, opts.cap ?? deposit, expiresAt);
  return { escrowId: await f.marketplace.escrowCount(), expiresAt };
}

async function deadline(seconds = 600) {
  return BigInt((await time.latest()) + seconds);
}

async function chargeReceipt(f: Fixture, escrowId: bigint, cumulativeUnits: bigint, sequence: bigint, signer = f.renter) {
  const dl = await deadline();
  const sig = await signReceipt(f.marketplace, signer, { escrowId, cumulativeUnits, sequence, deadline: dl });
  return f.marketplace.connect(f.provider).chargeWithReceipt(escrowId, cumulativeUnits, sequence, dl, sig);
}

async function attest(f: Fixture, escrowId: bigint, cumulativeUnits: bigint, sequence: bigint) {
  await f.verifier.approve(escrowId, cumulativeUnits, sequence, DIGEST);
  await f.marketplace.chargeWithAttestation(escrowId, cumulativeUnits, sequence, DIGEST, "0x");
  return f.marketplace.chargeCount();
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
      expect(await marketplace.disputeWindow()).to.equal(300n);
      expect(await marketplace.unbondingDelay()).to.equal(600n);
      expect(await marketplace.settlementGrace()).to.equal(60n);
      for (const role of [ethers.ZeroHash, ethers.id("UPGRADER_ROLE"), ARBITER_ROLE]) {
        expect(await marketplace.hasRole(role, tl)).to.equal(true);
      }
      expect(await marketplace.categoryCount()).to.equal(BigInt(CATEGORIES.length));
      expect(ethers.decodeBytes32String(await marketplace.categoryName(2))).to.equal("code");
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
      const { token } = await marketFixture();
      // hardhat-upgrades reads constructorArgs here at run time, but its ValidateImplementationOptions type omits it.
      const options = { kind: "uups", constructorArgs: [await token.getAddress()] } as Parameters<
        typeof upgrades.validateImplementation
      >[1];
      await upgrades.validateImplementation(await ethers.getContractFactory("ModelMarketplace"), options);
    });

    it("refuses an implementation without a token", async () => {
      const factory = await ethers.getContractFactory("ModelMarketplace");
      await expect(factory.deploy(ethers.ZeroAddress))
        .to.be.revertedWithCustomError(factory, "MarketplaceZeroAddress").withArgs("token");
    });

    it("cannot be initialised again", async () => {
      const { marketplace, renter } = await marketFixture();
      const params = {
        admin: renter.address, treasury: renter.address, protocolFeeBps: 0,
        minProviderBond: 0, disputeWindow: 0, unbondingDelay: 0, settlementGrace: 0, attestationVerifier: ethers.ZeroAddress, categories: [],
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
      const { escrowId: after } = await openEscrow(f);
      expect((await marketplace.getEscrow(before)).pricePerUnit).to.equal(PRICE);
      expect((await marketplace.getEscrow(after)).pricePerUnit).to.equal(ftns(5));
      await chargeReceipt(f, before, 3n, 1n);
      expect((await marketplace.getEscrow(before)).charged).to.equal(ftns(6)); // 3 units at the old price
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
      await chargeReceipt(f, escrowId, 1n, 1n); // the open escrow still works
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
        .to.be.revertedWithCustomError(marketplace, "BondLocked").withArgs(listingId, 0, 1);
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
        .to.be.revertedWithCustomError(marketplace, "BondLocked").withArgs(listingId, unbondingAt, 1);
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
    it("locks the deposit at the listing's price and emits the terms", async () => {
      const f = await marketFixture();
      const { marketplace, renter, provider, listingId, token } = f;
      const expiresAt = (await time.latest()) + 3600;
      const held = await token.balanceOf(await marketplace.getAddress()); // the listings' bonds
      await expect(marketplace.connect(renter).openEscrow(listingId, ftns(100), ftns(80), expiresAt))
        .to.emit(marketplace, "EscrowOpened")
        .withArgs(1n, listingId, renter.address, provider.address, ftns(100), ftns(80), PRICE, expiresAt);
      const escrow = await marketplace.getEscrow(1n);
      expect(escrow.status).to.equal(EscrowStatus.Open);
      expect(escrow.spendCap).to.equal(ftns(80));
      expect(await token.balanceOf(await marketplace.getAddress())).to.equal(held + ftns(100));
      expect((await marketplace.getListing(listingId)).openEscrows).to.equal(1n);
    });

    it("rejects a zero cap, a cap above the deposit, a past expiry and an unknown listing", async () => {
      const { marketplace, renter, listingId } = await marketFixture();
      const later = (await time.latest()) + 100;
      await expect(marketplace.connect(renter).openEscrow(listingId, ftns(10), 0, later))
        .to.be.revertedWithCustomError(marketplace, "InvalidDeposit").withArgs(ftns(10), 0);
      await expect(marketplace.connect(renter).openEscrow(listingId, ftns(10), ftns(11), later))
        .to.be.revertedWithCustomError(marketplace, "InvalidDeposit").withArgs(ftns(10), ftns(11));
      const now = await time.latest();
      await expect(marketplace.connect(renter).openEscrow(listingId, ftns(10), ftns(10), now))
        .to.be.revertedWithCustomError(marketplace, "InvalidExpiry");
      await expect(marketplace.connect(renter).openEscrow(999, ftns(10), ftns(10), later))
        .to.be.revertedWithCustomError(marketplace, "ListingNotRentable").withArgs(999, ListingStatus.None, 0, ftns(100));
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
      // Someone submits the permit first: the escrow still opens on the resulting allowance.
      await token.permit(outsider.address, await marketplace.getAddress(), ftns(20), permitDeadline, sig.v, sig.r, sig.s);
      await marketplace.connect(outsider).openEscrowWithPermit(listingId, ftns(20), ftns(20), expiresAt, permitDeadline, sig.v, sig.r, sig.s);
      expect((await marketplace.getEscrow(await marketplace.escrowCount())).renter).to.equal(outsider.address);
      // The allowance is now spent and the permit used: a replay cannot open another escrow.
      await expect(
        marketplace.connect(outsider).openEscrowWithPermit(listingId, ftns(20), ftns(20), expiresAt, permitDeadline, sig.v, sig.r, sig.s),
      ).to.be.revertedWithCustomError(token, "ERC20InsufficientAllowance");
    });
  });

  describe("charging with renter receipts", () => {
    it("charges the new units and splits them into provider payout, protocol fee and royalty", async () => {
      const f = await marketFixture();
      const { marketplace, provider, creator, timelock } = f;
      const { escrowId } = await openEscrow(f);
      const amount = 10n * PRICE; // 20 FTNS
      const fee = (amount * 250n) / 10_000n;
      const royalty = (amount * 500n) / 10_000n;
      await expect(chargeReceipt(f, escrowId, 10n, 1n))
        .to.emit(marketplace, "UsageCharged").withArgs(escrowId, 0, 1, 10, 10, amount, false, ethers.ZeroHash, 0)
        .and.to.emit(marketplace, "ChargeSettled")
        .withArgs(escrowId, 0, provider.address, amount - fee - royalty, await timelock.getAddress(), fee, creator.address, royalty);
      expect(await marketplace.payoutOf(provider.address)).to.equal(amount - fee - royalty);
      expect(await marketplace.payoutOf(await timelock.getAddress())).to.equal(fee);
      expect(await marketplace.payoutOf(creator.address)).to.equal(royalty);
      // Cumulative: the next receipt charges only the 5 new units.
      await chargeReceipt(f, escrowId, 15n, 2n);
      const escrow = await marketplace.getEscrow(escrowId);
      expect(escrow.charged).to.equal(15n * PRICE);
      expect(escrow.sequence).to.equal(2n);
    });

    it("rejects a replayed receipt and an older one, changing nothing", async () => {
      const f = await marketFixture();
      const { marketplace } = f;
      const { escrowId } = await openEscrow(f);
      const dl = await deadline();
      const first = await signReceipt(marketplace, f.renter, { escrowId, cumulativeUnits: 5n, sequence: 1n, deadline: dl });
      await marketplace.chargeWithReceipt(escrowId, 5n, 1n, dl, first);
      await chargeReceipt(f, escrowId, 8n, 2n);
      await expect(marketplace.chargeWithReceipt(escrowId, 5n, 1n, dl, first))
        .to.be.revertedWithCustomError(marketplace, "StaleReceipt").withArgs(escrowId, 1, 2);
      await expect(chargeReceipt(f, escrowId, 9n, 2n))
        .to.be.revertedWithCustomError(marketplace, "StaleReceipt").withArgs(escrowId, 2, 2);
      expect((await marketplace.getEscrow(escrowId)).charged).to.equal(8n * PRICE);
    });

    it("rejects a receipt whose cumulative units went down", async () => {
      const f = await marketFixture();
      const { escrowId } = await openEscrow(f);
      await chargeReceipt(f, escrowId, 8n, 1n);
      await expect(chargeReceipt(f, escrowId, 7n, 2n))
        .to.be.revertedWithCustomError(f.marketplace, "UnitsDecreased").withArgs(escrowId, 7, 8);
    });

    it("never charges beyond the spend cap (and so never beyond the deposit)", async () => {
      const f = await marketFixture();
      const { escrowId } = await openEscrow(f, { deposit: ftns(100), cap: ftns(30) });
      await chargeReceipt(f, escrowId, 15n, 1n); // 30 FTNS: exactly the cap
      await expect(chargeReceipt(f, escrowId, 16n, 2n))
        .to.be.revertedWithCustomError(f.marketplace, "SpendCapExceeded").withArgs(escrowId, PRICE, 0);
      const { escrowId: second } = await openEscrow(f, { deposit: ftns(10) });
      await expect(chargeReceipt(f, second, 6n, 1n))
        .to.be.revertedWithCustomError(f.marketplace, "SpendCapExceeded").withArgs(second, ftns(12), ftns(10));
    });

    it("rejects an expired receipt", async () => {
      const f = await marketFixture();
      const { escrowId } = await openEscrow(f);
      const dl = BigInt(await time.latest());
      const sig = await signReceipt(f.marketplace, f.renter, { escrowId, cumulativeUnits: 1n, sequence: 1n, deadline: dl });
      await expect(f.marketplace.chargeWithReceipt(escrowId, 1n, 1n, dl, sig))
        .to.be.revertedWithCustomError(f.marketplace, "SignatureExpired").withArgs(dl);
    });

    it("rejects receipts signed by anyone but the renter", async () => {
      const f = await marketFixture();
      const { escrowId } = await openEscrow(f);
      await expect(chargeReceipt(f, escrowId, 1n, 1n, f.provider))
        .to.be.revertedWithCustomError(f.marketplace, "InvalidSignature").withArgs(escrowId, f.renter.address);
    });

    it("rejects a receipt from another escrow, another chain or another contract", async () => {
      const f = await marketFixture();
      const { marketplace, renter } = f;
      const { escrowId: a } = await openEscrow(f);
      const { escrowId: b } = await openEscrow(f);
      const dl = await deadline();
      const forA = await signReceipt(marketplace, renter, { escrowId: a, cumulativeUnits: 1n, sequence: 1n, deadline: dl });
      await expect(marketplace.chargeWithReceipt(b, 1n, 1n, dl, forA)).to.be.revertedWithCustomError(marketplace, "InvalidSignature");
      const otherChain = await signReceipt(marketplace, renter, { escrowId: a, cumulativeUnits: 1n, sequence: 1n, deadline: dl }, { chainId: 137n });
      await expect(marketplace.chargeWithReceipt(a, 1n, 1n, dl, otherChain)).to.be.revertedWithCustomError(marketplace, "InvalidSignature");
      const otherContract = await signReceipt(marketplace, renter, { escrowId: a, cumulativeUnits: 1n, sequence: 1n, deadline: dl }, { verifyingContract: f.renter2.address });
      await expect(marketplace.chargeWithReceipt(a, 1n, 1n, dl, otherContract)).to.be.revertedWithCustomError(marketplace, "InvalidSignature");
    });

    it("accepts charges after expiry during the settlement grace, then refuses them", async () => {
      const f = await marketFixture();
      const { escrowId, expiresAt } = await openEscrow(f, { duration: 100 });
      await time.increaseTo(expiresAt + 30);
      await chargeReceipt(f, escrowId, 1n, 1n);
      await time.increaseTo(expiresAt + 61);
      await expect(chargeReceipt(f, escrowId, 2n, 2n))
        .to.be.revertedWithCustomError(f.marketplace, "SettlementPeriodOver").withArgs(escrowId, expiresAt + 60);
    });

    it("rejects charges to unknown and closed escrows", async () => {
      const f = await marketFixture();
      await expect(chargeReceipt(f, 999n, 1n, 1n)).to.be.revertedWithCustomError(f.marketplace, "EscrowNotFound").withArgs(999);
      const { escrowId, expiresAt } = await openEscrow(f, { duration: 100 });
      await time.increaseTo(expiresAt + 61);
      await f.marketplace.closeEscrow(escrowId);
      await expect(chargeReceipt(f, escrowId, 1n, 1n)).to.be.revertedWithCustomError(f.marketplace, "EscrowNotOpen").withArgs(escrowId);
    });
  });

  describe("attested charges and disputes", () => {
    it("holds an attested charge for the dispute window, then anyone releases it", async () => {
      const f = await marketFixture();
      const { marketplace, provider, outsider } = f;
      const { escrowId } = await openEscrow(f);
      await f.verifier.approve(escrowId, 10n, 1n, DIGEST);
      const tx = marketplace.chargeWithAttestation(escrowId, 10n, 1n, DIGEST, "0x");
      await expect(tx).to.emit(marketplace, "UsageCharged");
      const chargeId = await marketplace.chargeCount();
      const charge = await marketplace.getCharge(chargeId);
      expect(charge.status).to.equal(ChargeStatus.Pending);
      expect(charge.amount).to.equal(10n * PRICE);
      expect(charge.disputableUntil).to.equal(BigInt((await time.latest()) + 300));
      expect(await marketplace.payoutOf(provider.address)).to.equal(0n);
      await expect(marketplace.releaseCharge(chargeId))
        .to.be.revertedWithCustomError(marketplace, "DisputeWindowOpen").withArgs(chargeId, charge.disputableUntil);
      await time.increaseTo(charge.disputableUntil + 1n);
      await expect(marketplace.connect(outsider).releaseCharge(chargeId)).to.emit(marketplace, "ChargeSettled");
      expect(await marketplace.payoutOf(provider.address)).to.equal((10n * PRICE * 9_250n) / 10_000n);
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

    it("shares the receipt path's sequence: an attested report cannot replay a receipt's", async () => {
      const f = await marketFixture();
      const { escrowId } = await openEscrow(f);
      await chargeReceipt(f, escrowId, 5n, 1n);
      await f.verifier.approve(escrowId, 9n, 1n, DIGEST);
      await expect(f.marketplace.chargeWithAttestation(escrowId, 9n, 1n, DIGEST, "0x"))
        .to.be.revertedWithCustomError(f.marketplace, "StaleReceipt");
    });

    it("lets only the renter dispute, only within the window, and holds the amount", async () => {
      const f = await marketFixture();
      const { marketplace, renter, outsider, provider } = f;
      const { escrowId } = await openEscrow(f);
      const chargeId = await attest(f, escrowId, 10n, 1n);
      await expect(marketplace.connect(outsider).disputeCharge(chargeId))
        .to.be.revertedWithCustomError(marketplace, "NotEscrowRenter").withArgs(escrowId, outsider.address);
      await expect(marketplace.connect(renter).disputeCharge(chargeId))
        .to.emit(marketplace, "ChargeDisputed").withArgs(chargeId, escrowId, renter.address);
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
    });

    it("resolves a dispute once: to the renter (refund) or to the provider (normal split)", async () => {
      const f = await marketFixture();
      const { marketplace, renter, treasury, provider, outsider } = f;
      const { escrowId } = await openEscrow(f);
      const first = await attest(f, escrowId, 10n, 1n);
      const second = await attest(f, escrowId, 15n, 2n);
      await marketplace.connect(renter).disputeCharge(first);
      await marketplace.connect(renter).disputeCharge(second);
      await expect(marketplace.connect(outsider).resolveDispute(first, false))
        .to.be.revertedWithCustomError(marketplace, "AccessControlUnauthorizedAccount").withArgs(outsider.address, ARBITER_ROLE);
      await expect(marketplace.connect(treasury).resolveDispute(first, false))
        .to.emit(marketplace, "DisputeResolved").withArgs(first, escrowId, false, 10n * PRICE, treasury.address);
      expect(await marketplace.payoutOf(renter.address)).to.equal(10n * PRICE);
      await marketplace.connect(treasury).resolveDispute(second, true);
      expect(await marketplace.payoutOf(provider.address)).to.equal((5n * PRICE * 9_250n) / 10_000n);
      for (const id of [first, second]) {
        await expect(marketplace.connect(treasury).resolveDispute(id, true)).to.be.revertedWithCustomError(marketplace, "ChargeNotDisputed");
      }
      await expect(marketplace.connect(treasury).resolveDispute(999, true)).to.be.revertedWithCustomError(marketplace, "ChargeNotFound");
    });

    it("lets the timelock appoint an arbitration council", async () => {
      const f = await marketFixture();
      const { marketplace, treasury, outsider, renter } = f;
      await marketplace.connect(treasury).grantRole(ARBITER_ROLE, outsider.address);
      const { escrowId } = await openEscrow(f);
      const chargeId = await attest(f, escrowId, 1n, 1n);
      await marketplace.connect(renter).disputeCharge(chargeId);
      await marketplace.connect(outsider).resolveDispute(chargeId, false);
      expect((await marketplace.getCharge(chargeId)).status).to.equal(ChargeStatus.Refunded);
    });
  });

  describe("closing, rating and withdrawing", () => {
    it("lets anyone close after expiry and grace, refunding the unspent deposit to the renter", async () => {
      const f = await marketFixture();
      const { marketplace, renter, outsider, token, listingId } = f;
      const { escrowId, expiresAt } = await openEscrow(f, { duration: 100 });
      await chargeReceipt(f, escrowId, 10n, 1n);
      await expect(marketplace.connect(outsider).closeEscrow(escrowId))
        .to.be.revertedWithCustomError(marketplace, "EscrowNotClosable").withArgs(escrowId, expiresAt + 60);
      await time.increaseTo(expiresAt + 61);
      const before = await token.balanceOf(renter.address);
      await expect(marketplace.connect(outsider).closeEscrow(escrowId))
        .to.emit(marketplace, "EscrowClosed").withArgs(escrowId, outsider.address, ftns(80), false);
      expect(await token.balanceOf(renter.address)).to.equal(before + ftns(80));
      expect((await marketplace.getListing(listingId)).openEscrows).to.equal(0n);
      await expect(marketplace.closeEscrow(escrowId)).to.be.revertedWithCustomError(marketplace, "EscrowNotOpen");
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
      await chargeReceipt(f, escrowId, 10n, 1n);
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

  describe("governance parameters", () => {
    it("lets only the timelock set each parameter", async () => {
      const { marketplace, treasury, outsider, provider } = await marketFixture();
      const calls: [string, unknown[], string][] = [
        ["setProtocolFee", [300], "ProtocolFeeUpdated"],
        ["setTreasury", [outsider.address], "TreasuryUpdated"],
        ["setMinProviderBond", [ftns(1)], "MinProviderBondUpdated"],
        ["setDisputeWindow", [100], "DisputeWindowUpdated"],
        ["setUnbondingDelay", [100], "UnbondingDelayUpdated"],
        ["setSettlementGrace", [100], "SettlementGraceUpdated"],
        ["setAttestationVerifier", [outsider.address], "AttestationVerifierUpdated"],
        ["addCategory", [ethers.encodeBytes32String("video")], "CategoryAdded"],
      ];
      for (const [fn, args, event] of calls) {
        const data = (marketplace.interface as Interface).encodeFunctionData(fn, args);
        for (const caller of [outsider, provider]) {
          await expect(caller.sendTransaction({ to: await marketplace.getAddress(), data }))
            .to.be.revertedWithCustomError(marketplace, "AccessControlUnauthorizedAccount")
            .withArgs(caller.address, ethers.ZeroHash);
        }
        await expect(treasury.sendTransaction({ to: await marketplace.getAddress(), data })).to.emit(marketplace, event);
      }
      expect(await marketplace.protocolFeeBps()).to.equal(300n);
      expect(await marketplace.treasury()).to.equal(outsider.address);
      expect(ethers.decodeBytes32String(await marketplace.categoryName(6))).to.equal("video");
    });

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
      await marketplace.connect(f.renter).openEscrow(listingId, 1_000n, 1_000n, (await time.latest()) + 100);
      const escrowId = await marketplace.escrowCount();
      await chargeReceipt(f, escrowId, 13n, 1n); // 91 raw units: fee 9, royalty 9, provider 73
      expect(await marketplace.payoutOf(await timelock.getAddress())).to.equal(9n);
      expect(await marketplace.payoutOf(creator.address)).to.equal(9n);
      expect(await marketplace.payoutOf(provider.address)).to.equal(73n);
    });
  });
});
