/**
 * Session keys (IMarketplaceSessionKeys, served by the marketplace proxy through MarketplaceSessionKeyModule): a
 * renter opens an escrow with a permit and a session key in one transaction, or authorizes and revokes keys later;
 * chargeWithReceipt accepts receipts signed by the renter or by any key ever authorized for the escrow (revoked or
 * not, so a provider is paid for what a key acknowledged before its revocation); closing by agreement stays
 * renter-only. A leaked key can charge at most the escrow's remaining spend cap.
 */
import { PERMIT_TYPES as PERMIT_TYPES_CONST } from "../../workers/shared/permit";
import { expect } from "chai";
import hre, { deployments, ethers } from "hardhat";
import { time } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import type { Wallet } from "ethers";
import {
  getStorageLayout,
  getVersion,
  getStorageUpgradeReport,
  withValidationDefaults,
  type StorageLayout,
} from "@openzeppelin/upgrades-core";
import { readValidations } from "@openzeppelin/hardhat-upgrades/dist/utils/validations";
import { deployProtocol, ftns, impersonate } from "../support/fixtures";
import { signClose, signReceipt } from "../support/marketplace";
import type { IMarketplaceSessionKeys } from "../../typechain-types";

const PERMIT_TYPES = { Permit: [...PERMIT_TYPES_CONST.Permit] };

const PRICE = ftns(2);
const Unit = { Token: 0 };


const fixture = deployments.createFixture(async () => {
  const protocol = await deployProtocol();
  const { token, timelock, marketplace, users } = protocol;
  const [renter, provider, creator, outsider] = users;
  const treasury = await impersonate(await timelock.getAddress());
  for (const account of [renter, provider, outsider]) await token.connect(treasury).transfer(account.address, ftns(10_000));
  await token.connect(provider).approve(await marketplace.getAddress(), ethers.MaxUint256);
  await marketplace
    .connect(provider)
    .list(ethers.id("model-weights"), "ipfs://bafy-model", 0, Unit.Token, PRICE, creator.address, 500, ftns(100));
  const listingId = await marketplace.listingCount();
  const keys = (await ethers.getContractAt("IMarketplaceSessionKeys", await marketplace.getAddress())) as unknown as IMarketplaceSessionKeys;
  return { ...protocol, treasury, renter, provider, creator, outsider, listingId, keys };
});

type Fixture = Awaited<ReturnType<typeof fixture>>;

/** A fresh browser-style key (not a hardhat account), connected to the chain so it could send if it had gas. */
function newKey(): Wallet {
  return ethers.Wallet.createRandom().connect(ethers.provider) as unknown as Wallet;
}

async function permit(f: Fixture, owner: HardhatEthersSigner, value: bigint) {
  const deadline = BigInt((await time.latest()) + 3600);
  const { name, version, chainId, verifyingContract } = await f.token.eip712Domain();
  const nonce = await f.token.nonces(owner.address);
  const sig = ethers.Signature.from(
    await owner.signTypedData({ name, version, chainId, verifyingContract }, PERMIT_TYPES, {
      owner: owner.address,
      spender: await f.marketplace.getAddress(),
      value,
      nonce,
      deadline,
    }),
  );
  return { deadline, sig };
}

/** Opens an escrow of `deposit` (cap = deposit) with a permit and `key` in one transaction. */
async function openWithKey(f: Fixture, key: string, deposit = ftns(100), renter = f.renter) {
  const { deadline, sig } = await permit(f, renter, deposit);
  const expiresAt = (await time.latest()) + 3600;
  const tx = await f.keys
    .connect(renter)
    .openEscrowWithSessionKey(f.listingId, deposit, deposit, expiresAt, PRICE, key, deadline, sig.v, sig.r, sig.s);
  const receipt = (await tx.wait())!;
  return { escrowId: await f.marketplace.escrowCount(), tx, gas: receipt.gasUsed };
}

async function receiptBy(f: Fixture, signer: HardhatEthersSigner | Wallet, escrowId: bigint, cumulativeUnits: bigint) {
  const deadline = BigInt((await time.latest()) + 600);
  const signature = await signReceipt(f.marketplace, signer as HardhatEthersSigner, { escrowId, cumulativeUnits, deadline });
  return { deadline, signature };
}

async function charge(f: Fixture, signer: HardhatEthersSigner | Wallet, escrowId: bigint, cumulativeUnits: bigint) {
  const { deadline, signature } = await receiptBy(f, signer, escrowId, cumulativeUnits);
  return f.marketplace.connect(f.provider).chargeWithReceipt(escrowId, cumulativeUnits, deadline, signature);
}

describe("Marketplace session keys", () => {
  describe("openEscrowWithSessionKey", () => {
    it("opens the escrow and authorizes the key in the same transaction (gas printed)", async () => {
      const f = await fixture();
      const key = newKey();
      const { escrowId, tx, gas } = await openWithKey(f, key.address);
      const escrow = await f.marketplace.getEscrow(escrowId);
      expect(escrow.renter).to.equal(f.renter.address);
      expect(escrow.deposit).to.equal(ftns(100));
      expect(escrow.spendCap).to.equal(ftns(100));
      expect(await f.keys.sessionKey(escrowId, key.address)).to.deep.equal([true, 0n]);
      await expect(tx).to.emit(f.keys, "SessionKeyAuthorized").withArgs(escrowId, key.address);
      await expect(tx).to.emit(f.marketplace, "EscrowOpened");
      expect(await f.token.balanceOf(await f.marketplace.getAddress())).to.be.greaterThanOrEqual(ftns(100));
      // A second escrow by the same renter (the escrow counter's slot exists now, as in the permit benchmark).
      const second = await openWithKey(f, newKey().address);
      console.log(`      gas: openEscrowWithSessionKey ${gas} (first escrow of the renter), ${second.gas} (second)`);
      expect(second.gas).to.be.lessThan(210_000n);
    });

    it("still opens when the permit was front-run and the allowance exists", async () => {
      const f = await fixture();
      const key = newKey();
      const { deadline, sig } = await permit(f, f.outsider, ftns(20));
      await f.token.permit(f.outsider.address, await f.marketplace.getAddress(), ftns(20), deadline, sig.v, sig.r, sig.s);
      const expiresAt = (await time.latest()) + 3600;
      await f.keys
        .connect(f.outsider)
        .openEscrowWithSessionKey(f.listingId, ftns(20), ftns(20), expiresAt, PRICE, key.address, deadline, sig.v, sig.r, sig.s);
      const escrowId = await f.marketplace.escrowCount();
      expect((await f.marketplace.getEscrow(escrowId)).renter).to.equal(f.outsider.address);
      expect(await f.keys.sessionKey(escrowId, key.address)).to.deep.equal([true, 0n]);
      // The allowance is spent and the permit used: a replay opens nothing.
      await expect(
        f.keys
          .connect(f.outsider)
          .openEscrowWithSessionKey(f.listingId, ftns(20), ftns(20), expiresAt, PRICE, newKey().address, deadline, sig.v, sig.r, sig.s),
      ).to.be.revertedWithCustomError(f.token, "ERC20InsufficientAllowance");
    });

    it("refuses the zero key and the renter itself, and applies openEscrow's checks (nothing recorded)", async () => {
      const f = await fixture();
      const { deadline, sig } = await permit(f, f.renter, ftns(100));
      const expiresAt = (await time.latest()) + 3600;
      const open = (key: string, maxPrice = PRICE) =>
        f.keys.connect(f.renter).openEscrowWithSessionKey(f.listingId, ftns(100), ftns(100), expiresAt, maxPrice, key, deadline, sig.v, sig.r, sig.s);
      await expect(open(ethers.ZeroAddress)).to.be.revertedWithCustomError(f.keys, "InvalidSessionKey").withArgs(ethers.ZeroAddress);
      await expect(open(f.renter.address)).to.be.revertedWithCustomError(f.keys, "InvalidSessionKey").withArgs(f.renter.address);
      const key = newKey();
      await expect(open(key.address, PRICE - 1n)).to.be.revertedWithCustomError(f.marketplace, "PriceAboveMaximum");
      expect(await f.marketplace.escrowCount()).to.equal(0n);
      expect(await f.keys.sessionKey(1n, key.address)).to.deep.equal([false, 0n]);
    });

    it("does nothing when the module is called directly (its own storage has no listing)", async () => {
      const f = await fixture();
      const [moduleAddress] = await Promise.all([
        // The module's address is not exposed: find it as the contract the implementation created.
        (async () => {
          const implementation = await hre.upgrades.erc1967.getImplementationAddress(await f.marketplace.getAddress());
          return ethers.getCreateAddress({ from: implementation, nonce: 1 });
        })(),
      ]);
      expect(await ethers.provider.getCode(moduleAddress)).to.not.equal("0x");
      const module = await ethers.getContractAt("MarketplaceSessionKeyModule", moduleAddress);
      const { deadline, sig } = await permit(f, f.renter, ftns(100));
      await expect(
        module
          .connect(f.renter)
          .openEscrowWithSessionKey(f.listingId, ftns(100), ftns(100), (await time.latest()) + 3600, PRICE, newKey().address, deadline, sig.v, sig.r, sig.s),
      ).to.be.revertedWithCustomError(f.marketplace, "ListingNotRentable");
    });
  });

  describe("authorizeSessionKey and revokeSessionKey", () => {
    it("authorizes a key for an open escrow (renter only) and revokes it at the block's time", async () => {
      const f = await fixture();
      const { escrowId } = await openWithKey(f, newKey().address);
      const key = newKey();
      await expect(f.keys.connect(f.renter).authorizeSessionKey(escrowId, key.address))
        .to.emit(f.keys, "SessionKeyAuthorized")
        .withArgs(escrowId, key.address);
      expect(await f.keys.sessionKey(escrowId, key.address)).to.deep.equal([true, 0n]);
      const at = (await time.latest()) + 5;
      await time.setNextBlockTimestamp(at);
      await expect(f.keys.connect(f.renter).revokeSessionKey(escrowId, key.address))
        .to.emit(f.keys, "SessionKeyRevoked")
        .withArgs(escrowId, key.address, at);
      expect(await f.keys.sessionKey(escrowId, key.address)).to.deep.equal([true, BigInt(at)]);
    });

    it("refuses strangers and the provider, with NotEscrowRenter", async () => {
      const f = await fixture();
      const existing = newKey();
      const { escrowId } = await openWithKey(f, existing.address);
      const key = newKey();
      for (const caller of [f.outsider, f.provider]) {
        await expect(f.keys.connect(caller).authorizeSessionKey(escrowId, key.address))
          .to.be.revertedWithCustomError(f.marketplace, "NotEscrowRenter")
          .withArgs(escrowId, caller.address);
        await expect(f.keys.connect(caller).revokeSessionKey(escrowId, existing.address))
          .to.be.revertedWithCustomError(f.marketplace, "NotEscrowRenter")
          .withArgs(escrowId, caller.address);
      }
      // A key cannot authorize or revoke keys either (it is not the renter).
      const keySigner = await impersonate(existing.address);
      await expect(f.keys.connect(keySigner).authorizeSessionKey(escrowId, key.address)).to.be.revertedWithCustomError(f.marketplace, "NotEscrowRenter");
      await expect(f.keys.connect(keySigner).revokeSessionKey(escrowId, existing.address)).to.be.revertedWithCustomError(f.marketplace, "NotEscrowRenter");
      expect(await f.keys.sessionKey(escrowId, key.address)).to.deep.equal([false, 0n]);
      expect(await f.keys.sessionKey(escrowId, existing.address)).to.deep.equal([true, 0n]);
    });

    it("names each refusal: invalid key, already authorized (revoked included), not active, escrow missing or closed", async () => {
      const f = await fixture();
      const key = newKey();
      const { escrowId } = await openWithKey(f, key.address);
      await expect(f.keys.connect(f.renter).authorizeSessionKey(escrowId, ethers.ZeroAddress))
        .to.be.revertedWithCustomError(f.keys, "InvalidSessionKey")
        .withArgs(ethers.ZeroAddress);
      await expect(f.keys.connect(f.renter).authorizeSessionKey(escrowId, f.renter.address))
        .to.be.revertedWithCustomError(f.keys, "InvalidSessionKey")
        .withArgs(f.renter.address);
      await expect(f.keys.connect(f.renter).authorizeSessionKey(escrowId, key.address))
        .to.be.revertedWithCustomError(f.keys, "SessionKeyAlreadyAuthorized")
        .withArgs(escrowId, key.address);
      const never = newKey();
      await expect(f.keys.connect(f.renter).revokeSessionKey(escrowId, never.address))
        .to.be.revertedWithCustomError(f.keys, "SessionKeyNotActive")
        .withArgs(escrowId, never.address);
      await f.keys.connect(f.renter).revokeSessionKey(escrowId, key.address);
      await expect(f.keys.connect(f.renter).revokeSessionKey(escrowId, key.address))
        .to.be.revertedWithCustomError(f.keys, "SessionKeyNotActive")
        .withArgs(escrowId, key.address);
      // Revocation is final: the key cannot be authorized again for this escrow.
      await expect(f.keys.connect(f.renter).authorizeSessionKey(escrowId, key.address))
        .to.be.revertedWithCustomError(f.keys, "SessionKeyAlreadyAuthorized")
        .withArgs(escrowId, key.address);
      await expect(f.keys.connect(f.renter).authorizeSessionKey(99n, newKey().address))
        .to.be.revertedWithCustomError(f.marketplace, "EscrowNotFound")
        .withArgs(99n);
      await f.marketplace.connect(f.provider).closeEscrowByProvider(escrowId);
      await expect(f.keys.connect(f.renter).authorizeSessionKey(escrowId, newKey().address))
        .to.be.revertedWithCustomError(f.marketplace, "EscrowNotOpen")
        .withArgs(escrowId);
    });
  });

  describe("chargeWithReceipt", () => {
    it("charges a receipt signed by the session key, and the renter's own receipts still", async () => {
      const f = await fixture();
      const key = newKey();
      const { escrowId } = await openWithKey(f, key.address);
      await expect(charge(f, key, escrowId, 10n)).to.emit(f.marketplace, "UsageCharged");
      expect((await f.marketplace.getEscrow(escrowId)).charged).to.equal(10n * PRICE);
      await charge(f, f.renter, escrowId, 15n);
      expect((await f.marketplace.getEscrow(escrowId)).units).to.equal(15n);
    });

    it("charges a receipt the key signed before its revocation, and one it signs after (scope: the spend cap)", async () => {
      const f = await fixture();
      const key = newKey();
      const { escrowId } = await openWithKey(f, key.address);
      const before = await receiptBy(f, key, escrowId, 10n);
      await f.keys.connect(f.renter).revokeSessionKey(escrowId, key.address);
      await f.marketplace.connect(f.provider).chargeWithReceipt(escrowId, 10n, before.deadline, before.signature);
      expect((await f.marketplace.getEscrow(escrowId)).charged).to.equal(10n * PRICE);
      // A leaked key can still sign receipts after revocation, but never beyond the escrow's remaining cap.
      await charge(f, key, escrowId, 50n);
      await expect(charge(f, key, escrowId, 51n)).to.be.revertedWithCustomError(f.marketplace, "SpendCapExceeded");
      expect((await f.marketplace.getEscrow(escrowId)).charged).to.equal(ftns(100));
    });

    it("refuses a receipt by a key never authorized, or authorized for another escrow", async () => {
      const f = await fixture();
      const key = newKey();
      const { escrowId } = await openWithKey(f, key.address);
      const other = await openWithKey(f, newKey().address);
      await expect(charge(f, newKey(), escrowId, 10n))
        .to.be.revertedWithCustomError(f.marketplace, "InvalidSignature")
        .withArgs(escrowId, f.renter.address);
      await expect(charge(f, key, other.escrowId, 10n))
        .to.be.revertedWithCustomError(f.marketplace, "InvalidSignature")
        .withArgs(other.escrowId, f.renter.address);
      // The provider and strangers are not keys either.
      await expect(charge(f, f.provider, escrowId, 10n)).to.be.revertedWithCustomError(f.marketplace, "InvalidSignature");
      // Garbage signatures recover to nobody.
      const deadline = BigInt((await time.latest()) + 600);
      await expect(
        f.marketplace.connect(f.provider).chargeWithReceipt(escrowId, 10n, deadline, "0x" + "00".repeat(65)),
      ).to.be.revertedWithCustomError(f.marketplace, "InvalidSignature");
    });
  });

  describe("closing", () => {
    it("a session key cannot close the escrow by a CloseEscrow signature, nor by calling", async () => {
      const f = await fixture();
      const key = newKey();
      const { escrowId } = await openWithKey(f, key.address);
      const deadline = BigInt((await time.latest()) + 600);
      const byKey = await signClose(f.marketplace, key as unknown as HardhatEthersSigner, escrowId, deadline);
      await expect(f.marketplace.connect(f.provider).closeEscrowByAgreement(escrowId, deadline, byKey))
        .to.be.revertedWithCustomError(f.marketplace, "InvalidSignature")
        .withArgs(escrowId, f.renter.address);
      const keySigner = await impersonate(key.address);
      const byProvider = await signClose(f.marketplace, f.provider, escrowId, deadline);
      await expect(f.marketplace.connect(keySigner).closeEscrowByAgreement(escrowId, deadline, byProvider))
        .to.be.revertedWithCustomError(f.marketplace, "NotEscrowParty")
        .withArgs(escrowId, key.address);
      expect((await f.marketplace.getEscrow(escrowId)).status).to.equal(1n);
      // The renter's own signature still closes it.
      const byRenter = await signClose(f.marketplace, f.renter, escrowId, deadline);
      await f.marketplace.connect(f.provider).closeEscrowByAgreement(escrowId, deadline, byRenter);
      expect((await f.marketplace.getEscrow(escrowId)).status).to.equal(2n);
    });
  });

  describe("upgrade safety", () => {
    /** The namespace's fields before session keys, in order: the new field must come after all of them. */
    const PREVIOUS_FIELDS = [
      "treasury", "categoryCount", "verifier", "listingCount", "chargeCount", "minProviderBond", "minEscrowDeposit",
      "escrowCount", "currentTerms", "maxEscrowDuration", "unbondingDelay", "listings", "escrows", "charges", "payouts",
      "categoryNames", "terms", "batchCount", "batches", "batchShares", "batchDisputes",
    ];

    it("appends sessionKeys as the namespace's last field: the layout without it upgrades to the new one", async () => {
      const validations = await readValidations(hre);
      const version = getVersion((await ethers.getContractFactory("ModelMarketplace")).bytecode);
      const layout = getStorageLayout(validations, version);
      const namespace = "erc7201:prsm.storage.ModelMarketplace";
      const fields = layout.namespaces![namespace]!;
      expect(fields.map((f) => f.label)).to.deep.equal([...PREVIOUS_FIELDS, "sessionKeys"]);
      const previous: StorageLayout = { ...layout, namespaces: { ...layout.namespaces, [namespace]: fields.slice(0, -1) } };
      const report = getStorageUpgradeReport(previous, layout, withValidationDefaults({}));
      expect(report.ok, report.explain()).to.equal(true);
      // And removing any earlier field would be caught (the check is not vacuous).
      const shuffled: StorageLayout = { ...layout, namespaces: { ...layout.namespaces, [namespace]: [...fields.slice(0, 3), ...fields.slice(4)] } };
      expect(getStorageUpgradeReport(layout, shuffled, withValidationDefaults({})).ok).to.equal(false);
    });

    it("passes the implementation's upgrade-safety validation with the session-key module", async () => {
      const f = await fixture();
      const options = { kind: "uups", constructorArgs: [await f.token.getAddress(), await f.marketplace.batchModule()] } as Parameters<
        typeof hre.upgrades.validateImplementation
      >[1];
      await hre.upgrades.validateImplementation(await ethers.getContractFactory("ModelMarketplace"), options);
    });

    it("keeps the implementation under the 24 KiB code-size limit", async () => {
      const artifact = await hre.artifacts.readArtifact("ModelMarketplace");
      const size = (artifact.deployedBytecode.length - 2) / 2;
      console.log(`      ModelMarketplace deployed bytecode: ${size} bytes (limit 24,576)`);
      expect(size).to.be.at.most(24_576);
    });
  });
});
