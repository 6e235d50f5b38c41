import { expect } from "chai";
import { deployments, ethers, upgrades } from "hardhat";
import { time } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import { deployProtocol, ftns, impersonate } from "../support/fixtures";
import type { Hex } from "viem";
import { attestWith, encodeAttestation, signAttestation, type UsageReport } from "../support/committee";
import { attestBatch, BATCH_EIP712_TYPES, committeeDomain, encodeEntries, entriesHash, signBatchWords } from "../support/batches";

const MEMBERSHIP_ROLE = ethers.id("MEMBERSHIP_ROLE");
const DIGEST = ethers.id("answers");

/**
 * Deployed protocol with the local committee (accounts 14..17, bond 100 FTNS each; epoch grace 300 s, unbonding
 * 600 s, slash reward 50%, minimum committee size 4), an open escrow on launch listing 1, and a funded candidate.
 */
const committeeFixture = deployments.createFixture(async () => {
  const protocol = await deployProtocol();
  const { token, timelock, marketplace, users } = protocol;
  const signers = await ethers.getSigners();
  const nodes = signers.slice(14, 18);
  const [renter, candidate, reporter, outsider] = users;
  const treasury = await impersonate(await timelock.getAddress());
  const committee = await ethers.getContractAt("FederationCommittee", await marketplace.attestationVerifier());
  // The marketplace consumes attestations: direct verifications in these tests are calls from its address.
  const marketAddress = await marketplace.getAddress();
  const market = await impersonate(marketAddress);
  for (const account of [renter, candidate]) {
    await token.connect(treasury).transfer(account.address, ftns(10_000));
  }
  await token.connect(renter).approve(await marketplace.getAddress(), ethers.MaxUint256);
  await token.connect(candidate).approve(await committee.getAddress(), ethers.MaxUint256);
  const { pricePerUnit } = await marketplace.getListing(1);
  await marketplace.connect(renter).openEscrow(1, ftns(100), ftns(100), (await time.latest()) + 3600, pricePerUnit);
  const escrowId = await marketplace.escrowCount();
  return { ...protocol, committee, market, marketAddress, nodes, renter, candidate, reporter, outsider, treasury, escrowId };
});

type Fixture = Awaited<ReturnType<typeof committeeFixture>>;
const report = (f: Fixture, units = 1_000n, sequence = 1n, resultDigest = DIGEST): UsageReport => ({
  marketplace: f.marketAddress,
  escrowId: f.escrowId,
  cumulativeUnits: units,
  sequence,
  resultDigest,
});

async function currentParameters(f: Fixture) {
  const p = await f.committee.getParameters();
  return {
    minBond: p.minBond,
    autoAdmissionBond: p.autoAdmissionBond,
    unbondingDelay: p.unbondingDelay,
    epochGrace: p.epochGrace,
    slashRewardBps: p.slashRewardBps,
    minCommitteeSize: p.minCommitteeSize,
  };
}

async function admitCandidate(f: Fixture, who: HardhatEthersSigner = f.candidate) {
  await f.committee.connect(who).bond(ftns(100));
  await f.committee.connect(f.treasury).admit(who.address);
}

describe("FederationCommittee", () => {
  describe("deployment", () => {
    it("starts with the four local nodes: n = 4, f = 1, quorum 3, governed by the timelock", async () => {
      const { committee, nodes, timelock, marketplace, token } = await committeeFixture();
      expect(await committee.currentMembers()).to.deep.equal(nodes.map((n) => n.address));
      expect(await committee.committeeSize()).to.equal(4n);
      expect(await committee.faultTolerance()).to.equal(1n);
      expect(await committee.quorumFor(4)).to.equal(3n);
      expect(await committee.quorumFor(5)).to.equal(4n);
      expect(await committee.quorumFor(6)).to.equal(5n);
      expect(await committee.quorumFor(31)).to.equal(21n);
      expect(await committee.MIN_COMMITTEE_SIZE_FLOOR()).to.equal(4n);
      expect(await committee.currentEpoch()).to.equal(5n); // empty epoch 1, then one per admission
      expect(await committee.treasury()).to.equal(await timelock.getAddress());
      expect(await committee.token()).to.equal(await token.getAddress());
      expect(await marketplace.attestationVerifier()).to.equal(await committee.getAddress());
      expect((await committee.getParameters()).minBond).to.equal(ftns(100));
      for (const node of nodes) expect((await committee.getMember(node.address)).bond).to.equal(ftns(100));
    });

    it("passes the upgrade-safety validation", async () => {
      const { token } = await committeeFixture();
      const options = { kind: "uups", constructorArgs: [await token.getAddress()] } as Parameters<
        typeof upgrades.validateImplementation
      >[1];
      await upgrades.validateImplementation(await ethers.getContractFactory("FederationCommittee"), options);
    });
  });

  describe("quorum verification", () => {
    it("settles a marketplace charge attested by 3 of 4 members", async () => {
      const f = await committeeFixture();
      const r = report(f);
      const { bytes } = await attestWith(f.committee, f.nodes.slice(0, 3), r);
      await f.committee.connect(f.market).verifyUsageAttestation(r.escrowId, r.cumulativeUnits, r.sequence, r.resultDigest, bytes);
      await expect(f.marketplace.chargeWithAttestation(r.escrowId, r.cumulativeUnits, r.sequence, r.resultDigest, bytes))
        .to.emit(f.marketplace, "UsageCharged");
      const escrow = await f.marketplace.getEscrow(f.escrowId);
      expect(escrow.charged).to.equal(1_000n * ftns("0.0003"));
      expect(escrow.units).to.equal(1_000n);
    });

    it("accepts any three members and all four", async () => {
      const f = await committeeFixture();
      const r = report(f);
      for (const set of [[1, 2, 3], [0, 2, 3], [0, 1, 2, 3]]) {
        const { bytes } = await attestWith(f.committee, set.map((i) => f.nodes[i]), r);
        await f.committee.connect(f.market).verifyUsageAttestation(r.escrowId, r.cumulativeUnits, r.sequence, r.resultDigest, bytes);
      }
    });

    it("rejects two signatures when the quorum is three", async () => {
      const f = await committeeFixture();
      const r = report(f);
      const { bytes } = await attestWith(f.committee, f.nodes.slice(0, 2), r);
      await expect(f.marketplace.chargeWithAttestation(r.escrowId, r.cumulativeUnits, r.sequence, r.resultDigest, bytes))
        .to.be.revertedWithCustomError(f.committee, "QuorumNotMet").withArgs(2, 3);
    });

    it("refuses 3 (or 4) of 6 signatures: the quorum is more than two thirds for every committee size", async () => {
      const f = await committeeFixture();
      await admitCandidate(f);
      await f.token.connect(f.treasury).transfer(f.outsider.address, ftns(100));
      await f.token.connect(f.outsider).approve(await f.committee.getAddress(), ftns(100));
      await admitCandidate(f, f.outsider);
      expect(await f.committee.committeeSize()).to.equal(6n);
      const all = [...f.nodes, f.candidate, f.outsider];
      const r = report(f);
      for (const count of [3, 4]) {
        const { bytes } = await attestWith(f.committee, all.slice(0, count), r);
        await expect(f.marketplace.chargeWithAttestation(r.escrowId, r.cumulativeUnits, r.sequence, r.resultDigest, bytes))
          .to.be.revertedWithCustomError(f.committee, "QuorumNotMet").withArgs(count, 5);
      }
      const { bytes } = await attestWith(f.committee, all.slice(1, 6), r);
      await expect(f.marketplace.chargeWithAttestation(r.escrowId, r.cumulativeUnits, r.sequence, r.resultDigest, bytes))
        .to.emit(f.marketplace, "UsageCharged");
      for (let n = 1n; n <= 255n; n++) {
        const q = await f.committee.quorumFor(n);
        expect(3n * q > 2n * n, `quorum ${q} of ${n}`).to.equal(true);
        expect(3n * (q - 1n) <= 2n * n, `quorum ${q} of ${n} is not the least above 2n/3`).to.equal(true);
        expect(n - q, `f crashed members of ${n} must not stop a quorum`).to.equal((n - 1n) / 3n);
      }
    });

    it("refuses an attestation made for another marketplace: the same bytes settle nothing elsewhere", async () => {
      const f = await committeeFixture();
      const other = f.outsider; // stands in for a second marketplace sharing this committee
      const r = report(f);
      // Signed for this marketplace: verifies when it asks, not when another consumer presents the bytes.
      const forThis = await attestWith(f.committee, f.nodes.slice(0, 3), r);
      await f.committee.connect(f.market).verifyUsageAttestation(r.escrowId, r.cumulativeUnits, r.sequence, r.resultDigest, forThis.bytes);
      await expect(f.committee.connect(other).verifyUsageAttestation(r.escrowId, r.cumulativeUnits, r.sequence, r.resultDigest, forThis.bytes))
        .to.be.revertedWithCustomError(f.committee, "InvalidMemberSignature").withArgs(0, f.nodes[0].address);
      // Signed for the other marketplace: this marketplace refuses to charge on it.
      const forOther = await attestWith(f.committee, f.nodes.slice(0, 3), { ...r, marketplace: other.address });
      await f.committee.connect(other).verifyUsageAttestation(r.escrowId, r.cumulativeUnits, r.sequence, r.resultDigest, forOther.bytes);
      await expect(f.marketplace.chargeWithAttestation(r.escrowId, r.cumulativeUnits, r.sequence, r.resultDigest, forOther.bytes))
        .to.be.revertedWithCustomError(f.committee, "InvalidMemberSignature");
      expect(await f.committee.attestationDigest(f.marketAddress, r.escrowId, r.cumulativeUnits, r.sequence, r.resultDigest, forThis.epoch))
        .to.not.equal(await f.committee.attestationDigest(other.address, r.escrowId, r.cumulativeUnits, r.sequence, r.resultDigest, forThis.epoch));
    });

    it("never counts a signer twice: one member's signature under another's bit is rejected", async () => {
      const f = await committeeFixture();
      const r = report(f);
      const { epoch, members, signatures } = await attestWith(f.committee, f.nodes.slice(0, 3), r);
      const duplicated = encodeAttestation(epoch, members, 0b111n, [signatures[0], signatures[0], signatures[2]]);
      await expect(f.committee.connect(f.market).verifyUsageAttestation(r.escrowId, r.cumulativeUnits, r.sequence, r.resultDigest, duplicated))
        .to.be.revertedWithCustomError(f.committee, "InvalidMemberSignature").withArgs(1, members[1]);
    });

    it("rejects a signature's malleable twin (upper-half s) and a signature that recovers no one", async () => {
      const f = await committeeFixture();
      const r = report(f);
      const { epoch, members, signatures } = await attestWith(f.committee, f.nodes.slice(0, 3), r);
      const N = BigInt("0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141");
      const sig = ethers.Signature.from({ r: signatures[0][0], yParityAndS: signatures[0][1] });
      // (r, n - s) with the other parity recovers the same signer: refused, as OpenZeppelin's ECDSA does.
      const twinS = N - BigInt(sig.s);
      const twin = ethers.toBeHex((BigInt(1 - sig.yParity) << 255n) | twinS, 32);
      const malleable = encodeAttestation(epoch, members, 0b111n, [[sig.r, twin], signatures[1], signatures[2]]);
      await expect(f.committee.connect(f.market).verifyUsageAttestation(r.escrowId, r.cumulativeUnits, r.sequence, r.resultDigest, malleable))
        .to.be.revertedWithCustomError(f.committee, "InvalidMemberSignature").withArgs(0, members[0]);
      const garbage = encodeAttestation(epoch, members, 0b111n, [[ethers.ZeroHash, ethers.ZeroHash], signatures[1], signatures[2]]);
      await expect(f.committee.connect(f.market).verifyUsageAttestation(r.escrowId, r.cumulativeUnits, r.sequence, r.resultDigest, garbage))
        .to.be.revertedWithCustomError(f.committee, "InvalidMemberSignature").withArgs(0, members[0]);
    });

    it("rejects a bitmap that does not match the signatures, or names non-existent members", async () => {
      const f = await committeeFixture();
      const r = report(f);
      const { epoch, members, signatures } = await attestWith(f.committee, f.nodes.slice(0, 3), r);
      const fewer = encodeAttestation(epoch, members, 0b1111n, signatures);
      await expect(f.committee.connect(f.market).verifyUsageAttestation(r.escrowId, r.cumulativeUnits, r.sequence, r.resultDigest, fewer))
        .to.be.revertedWithCustomError(f.committee, "SignatureCountMismatch").withArgs(3, 4);
      const outOfRange = encodeAttestation(epoch, members, 0b10011n, signatures);
      await expect(f.committee.connect(f.market).verifyUsageAttestation(r.escrowId, r.cumulativeUnits, r.sequence, r.resultDigest, outOfRange))
        .to.be.revertedWithCustomError(f.committee, "SignerOutOfRange").withArgs(0b10011, 4);
    });

    it("rejects a non-member's signature, and a member list that is not the epoch's", async () => {
      const f = await committeeFixture();
      const r = report(f);
      const { epoch, members, signatures } = await attestWith(f.committee, f.nodes.slice(0, 3), r);
      const forged = [...signatures];
      forged[2] = await signAttestation(f.committee, f.outsider, r, epoch);
      await expect(f.committee.connect(f.market).verifyUsageAttestation(r.escrowId, r.cumulativeUnits, r.sequence, r.resultDigest, encodeAttestation(epoch, members, 0b111n, forged)))
        .to.be.revertedWithCustomError(f.committee, "InvalidMemberSignature").withArgs(2, members[2]);
      const swapped = [...members];
      swapped[2] = f.outsider.address;
      await expect(f.committee.connect(f.market).verifyUsageAttestation(r.escrowId, r.cumulativeUnits, r.sequence, r.resultDigest, encodeAttestation(epoch, swapped, 0b111n, forged)))
        .to.be.revertedWithCustomError(f.committee, "MembersMismatch").withArgs(epoch);
    });

    it("rejects signatures made for another chain or another report", async () => {
      const f = await committeeFixture();
      const r = report(f);
      const { epoch, members, signatures } = await attestWith(f.committee, f.nodes.slice(0, 3), r);
      const otherChain = [...signatures];
      otherChain[0] = await signAttestation(f.committee, f.nodes[0], r, epoch, { chainId: 137n });
      await expect(f.committee.connect(f.market).verifyUsageAttestation(r.escrowId, r.cumulativeUnits, r.sequence, r.resultDigest, encodeAttestation(epoch, members, 0b111n, otherChain)))
        .to.be.revertedWithCustomError(f.committee, "InvalidMemberSignature").withArgs(0, members[0]);
      const bytes = encodeAttestation(epoch, members, 0b111n, signatures);
      await expect(f.committee.connect(f.market).verifyUsageAttestation(r.escrowId, r.cumulativeUnits + 1n, r.sequence, r.resultDigest, bytes))
        .to.be.revertedWithCustomError(f.committee, "InvalidMemberSignature");
    });

    it("refuses an unknown epoch and a committee below the minimum size", async () => {
      const f = await committeeFixture();
      const r = report(f);
      const { epoch, members, signatures } = await attestWith(f.committee, f.nodes.slice(0, 3), r);
      await expect(f.committee.connect(f.market).verifyUsageAttestation(r.escrowId, r.cumulativeUnits, r.sequence, r.resultDigest, encodeAttestation(epoch + 1n, members, 0b111n, signatures)))
        .to.be.revertedWithCustomError(f.committee, "UnknownEpoch").withArgs(epoch + 1n, epoch);
      await f.committee.connect(f.nodes[3]).leave();
      const small = await attestWith(f.committee, f.nodes.slice(0, 3), r);
      await expect(f.committee.connect(f.market).verifyUsageAttestation(r.escrowId, r.cumulativeUnits, r.sequence, r.resultDigest, small.bytes))
        .to.be.revertedWithCustomError(f.committee, "CommitteeTooSmall").withArgs(3, 4);
    });
  });

  describe("membership changes by epoch", () => {
    it("keeps an in-flight attestation valid through a membership change, for the grace period", async () => {
      const f = await committeeFixture();
      const r = report(f);
      const inFlight = await attestWith(f.committee, f.nodes.slice(0, 3), r);
      await admitCandidate(f); // epoch + 1: five members
      expect(await f.committee.currentEpoch()).to.equal(inFlight.epoch + 1n);
      await f.committee.connect(f.market).verifyUsageAttestation(r.escrowId, r.cumulativeUnits, r.sequence, r.resultDigest, inFlight.bytes);
      const endedAt = (await f.committee.getEpoch(inFlight.epoch)).endedAt;
      await time.increaseTo(endedAt + 301n);
      await expect(f.committee.connect(f.market).verifyUsageAttestation(r.escrowId, r.cumulativeUnits, r.sequence, r.resultDigest, inFlight.bytes))
        .to.be.revertedWithCustomError(f.committee, "EpochExpired").withArgs(inFlight.epoch, endedAt, endedAt + 300n);
      // The new epoch: n = 5, f = 1, quorum 4 (more than two thirds), and the new member can be one of them.
      const fresh = await attestWith(f.committee, [f.nodes[0], f.nodes[1], f.nodes[2], f.candidate], r);
      await f.marketplace.chargeWithAttestation(r.escrowId, r.cumulativeUnits, r.sequence, r.resultDigest, fresh.bytes);
    });

    it("invalidates an attestation two epochs old at once, even within the grace period", async () => {
      const f = await committeeFixture();
      const r = report(f);
      const inFlight = await attestWith(f.committee, f.nodes.slice(0, 3), r);
      await admitCandidate(f);
      await f.committee.connect(f.treasury).remove(f.candidate.address);
      const graceUntil = (await f.committee.getEpoch(inFlight.epoch + 1n)).endedAt + 300n;
      await expect(f.committee.connect(f.market).verifyUsageAttestation(r.escrowId, r.cumulativeUnits, r.sequence, r.resultDigest, inFlight.bytes))
        .to.be.revertedWithCustomError(f.committee, "EpochExpired")
        .withArgs(inFlight.epoch, (await f.committee.getEpoch(inFlight.epoch)).endedAt, graceUntil);
    });

    it("admits only bonded candidates, through governance", async () => {
      const f = await committeeFixture();
      await expect(f.committee.connect(f.outsider).admit(f.candidate.address))
        .to.be.revertedWithCustomError(f.committee, "AccessControlUnauthorizedAccount").withArgs(f.outsider.address, MEMBERSHIP_ROLE);
      await expect(f.committee.connect(f.treasury).admit(f.candidate.address))
        .to.be.revertedWithCustomError(f.committee, "BondTooLow").withArgs(f.candidate.address, 0, ftns(100));
      await expect(f.committee.connect(f.candidate).bond(ftns(100)))
        .to.emit(f.committee, "Bonded").withArgs(f.candidate.address, ftns(100), ftns(100));
      await expect(f.committee.connect(f.treasury).admit(f.candidate.address))
        .to.emit(f.committee, "MemberAdmitted").withArgs(f.candidate.address, f.treasury.address)
        .and.to.emit(f.committee, "EpochStarted");
      await expect(f.committee.connect(f.treasury).admit(f.candidate.address))
        .to.be.revertedWithCustomError(f.committee, "AlreadyMember").withArgs(f.candidate.address);
    });

    it("admits by bond size when governance sets an auto-admission bond", async () => {
      const f = await committeeFixture();
      const params = { ...await currentParameters(f), autoAdmissionBond: ftns(500) };
      await f.committee.connect(f.treasury).setParameters(params);
      await f.committee.connect(f.candidate).bond(ftns(400));
      expect((await f.committee.getMember(f.candidate.address)).active).to.equal(false);
      await expect(f.committee.connect(f.candidate).bond(ftns(100))).to.emit(f.committee, "MemberAdmitted");
      expect(await f.committee.committeeSize()).to.equal(5n);
    });

    it("refuses to re-admit a removed member by bond size: governance's removal sticks", async () => {
      const f = await committeeFixture();
      const node = f.nodes[0];
      // Auto-admission at the minimum bond: every local node's bond qualifies.
      await f.committee.connect(f.treasury).setParameters({ ...await currentParameters(f), autoAdmissionBond: ftns(100) });
      await f.token.connect(f.treasury).transfer(node.address, ftns(1_000));
      await f.token.connect(node).approve(await f.committee.getAddress(), ethers.MaxUint256);
      await f.committee.connect(f.treasury).remove(node.address);
      const epoch = await f.committee.currentEpoch();
      await expect(f.committee.connect(node).bond(0)).to.be.revertedWithCustomError(f.committee, "ZeroBond");
      await expect(f.committee.connect(node).bond(ftns(1_000))).to.emit(f.committee, "Bonded").and.not.to.emit(f.committee, "MemberAdmitted");
      expect((await f.committee.getMember(node.address)).active).to.equal(false);
      expect(await f.committee.currentEpoch()).to.equal(epoch);
      // Governance can still take it back.
      await expect(f.committee.connect(f.treasury).admit(node.address)).to.emit(f.committee, "MemberAdmitted");
    });

    it("refuses epoch churn by leave + bond: a departed member comes back only through governance", async () => {
      const f = await committeeFixture();
      await f.committee.connect(f.treasury).setParameters({ ...await currentParameters(f), autoAdmissionBond: ftns(500) });
      await expect(f.committee.connect(f.candidate).bond(ftns(500))).to.emit(f.committee, "MemberAdmitted");
      await f.committee.connect(f.candidate).leave();
      const epoch = await f.committee.currentEpoch();
      expect((await f.committee.getMember(f.candidate.address)).lastEpoch).to.equal(epoch - 1n);
      await expect(f.committee.connect(f.candidate).bond(0)).to.be.revertedWithCustomError(f.committee, "ZeroBond");
      await expect(f.committee.connect(f.candidate).bond(1n)).to.not.emit(f.committee, "MemberAdmitted");
      // Not after the unbonding delay either, nor with a fresh bond once the old one is withdrawn.
      await time.increaseTo((await f.committee.getMember(f.candidate.address)).unbondingAt);
      await f.committee.connect(f.candidate).withdrawBond();
      await expect(f.committee.connect(f.candidate).bond(ftns(500))).to.not.emit(f.committee, "MemberAdmitted");
      expect(await f.committee.currentEpoch()).to.equal(epoch);
      expect(await f.committee.committeeSize()).to.equal(4n);
    });

    it("refuses a bond that leaves the total below the minimum bond", async () => {
      const f = await committeeFixture();
      await expect(f.committee.connect(f.candidate).bond(ftns(99)))
        .to.be.revertedWithCustomError(f.committee, "BondTooLow").withArgs(f.candidate.address, ftns(99), ftns(100));
      await expect(f.committee.connect(f.candidate).bond(0)).to.be.revertedWithCustomError(f.committee, "ZeroBond");
      await f.committee.connect(f.candidate).bond(ftns(100));
      await expect(f.committee.connect(f.candidate).bond(1n)).to.emit(f.committee, "Bonded").withArgs(f.candidate.address, 1n, ftns(100) + 1n);
    });

    it("lets governance remove a member and a member leave", async () => {
      const f = await committeeFixture();
      await expect(f.committee.connect(f.outsider).remove(f.nodes[0].address))
        .to.be.revertedWithCustomError(f.committee, "AccessControlUnauthorizedAccount");
      await expect(f.committee.connect(f.treasury).remove(f.nodes[0].address)).to.emit(f.committee, "MemberRemoved");
      await expect(f.committee.connect(f.nodes[0]).leave()).to.be.revertedWithCustomError(f.committee, "NotMember").withArgs(f.nodes[0].address);
      await f.committee.connect(f.nodes[1]).leave();
      expect(await f.committee.committeeSize()).to.equal(2n);
    });

    it("refuses a 256th member", async function () {
      this.timeout(300_000);
      const f = await committeeFixture();
      await ethers.provider.send("hardhat_setBalance", [f.treasury.address, ethers.toQuantity(ethers.parseEther("10000"))]);
      const wallets = Array.from({ length: 251 }, (_, i) => new ethers.Wallet(ethers.keccak256(ethers.toBeHex(i + 1, 32)), ethers.provider));
      for (const wallet of wallets) {
        await f.treasury.sendTransaction({ to: wallet.address, value: ethers.parseEther("0.1") });
        await f.token.connect(f.treasury).transfer(wallet.address, ftns(100));
        await f.token.connect(wallet).approve(await f.committee.getAddress(), ftns(100));
        await f.committee.connect(wallet).bond(ftns(100));
        await f.committee.connect(f.treasury).admit(wallet.address);
      }
      expect(await f.committee.committeeSize()).to.equal(255n);
      await f.committee.connect(f.candidate).bond(ftns(100));
      await expect(f.committee.connect(f.treasury).admit(f.candidate.address))
        .to.be.revertedWithCustomError(f.committee, "CommitteeFull").withArgs(255);
    });
  });

  describe("bonds", () => {
    it("returns a departed member's bond only after the unbonding delay", async () => {
      const f = await committeeFixture();
      const node = f.nodes[0];
      await expect(f.committee.connect(node).withdrawBond()).to.be.revertedWithCustomError(f.committee, "AlreadyMember");
      await f.committee.connect(node).leave();
      const { unbondingAt } = await f.committee.getMember(node.address);
      await expect(f.committee.connect(node).withdrawBond())
        .to.be.revertedWithCustomError(f.committee, "BondStillLocked").withArgs(node.address, unbondingAt);
      await time.increaseTo(unbondingAt);
      const before = await f.token.balanceOf(node.address);
      await expect(f.committee.connect(node).withdrawBond()).to.emit(f.committee, "BondWithdrawn").withArgs(node.address, ftns(100));
      expect(await f.token.balanceOf(node.address)).to.equal(before + ftns(100));
      await expect(f.committee.connect(node).withdrawBond()).to.be.revertedWithCustomError(f.committee, "NothingBonded");
    });
  });

  describe("equivocation", () => {
    async function conflicting(f: Fixture, signer: HardhatEthersSigner, marketplace = f.marketAddress) {
      const epoch = await f.committee.currentEpoch();
      const honest = { cumulativeUnits: 1_000n, resultDigest: DIGEST, epoch };
      const inflated = { cumulativeUnits: 5_000n, resultDigest: DIGEST, epoch };
      const slot = { marketplace, escrowId: f.escrowId, sequence: 1n };
      const sigA = await signAttestation(f.committee, signer, { ...slot, ...honest }, epoch);
      const sigB = await signAttestation(f.committee, signer, { ...slot, ...inflated }, epoch);
      return { a: { ...honest, signature: sigA }, b: { ...inflated, signature: sigB } };
    }

    it("slashes a member who signed two different reports for the same escrow and sequence", async () => {
      const f = await committeeFixture();
      const liar = f.nodes[2];
      const honestNode = f.nodes[0];
      const { a, b } = await conflicting(f, liar);
      const treasuryBefore = await f.token.balanceOf(await f.timelock.getAddress());
      const reporterBefore = await f.token.balanceOf(honestNode.address);
      await expect(f.committee.connect(honestNode).proveEquivocation(liar.address, f.marketAddress, f.escrowId, 1n, a, b))
        .to.emit(f.committee, "EquivocationSlashed")
        .withArgs(liar.address, honestNode.address, f.escrowId, 1, ftns(50), ftns(50));
      expect(await f.token.balanceOf(honestNode.address)).to.equal(reporterBefore + ftns(50));
      expect(await f.token.balanceOf(await f.timelock.getAddress())).to.equal(treasuryBefore + ftns(50));
      const member = await f.committee.getMember(liar.address);
      expect([member.active, member.slashed, member.bond]).to.deep.equal([false, true, 0n]);
      expect(await f.committee.currentMembers()).to.not.include(liar.address);
      await expect(f.committee.connect(f.reporter).proveEquivocation(liar.address, f.marketAddress, f.escrowId, 1n, a, b))
        .to.be.revertedWithCustomError(f.committee, "MemberSlashed").withArgs(liar.address);
      await expect(f.committee.connect(liar).bond(1n)).to.be.revertedWithCustomError(f.committee, "MemberSlashed");
      await expect(f.committee.connect(f.treasury).admit(liar.address)).to.be.revertedWithCustomError(f.committee, "MemberSlashed");
    });

    it("refuses the slash reward to an equivocator reporting itself: its whole bond goes to the treasury", async () => {
      const f = await committeeFixture();
      const liar = f.nodes[2];
      const { a, b } = await conflicting(f, liar);
      const treasuryBefore = await f.token.balanceOf(await f.timelock.getAddress());
      const liarBefore = await f.token.balanceOf(liar.address);
      await expect(f.committee.connect(liar).proveEquivocation(liar.address, f.marketAddress, f.escrowId, 1n, a, b))
        .to.emit(f.committee, "EquivocationSlashed")
        .withArgs(liar.address, liar.address, f.escrowId, 1, 0, ftns(100));
      expect(await f.token.balanceOf(liar.address)).to.equal(liarBefore);
      expect(await f.token.balanceOf(await f.timelock.getAddress())).to.equal(treasuryBefore + ftns(100));
    });

    it("refuses the slash reward to a reporter that is not a member (the equivocator's own second address)", async () => {
      const f = await committeeFixture();
      const liar = f.nodes[2];
      const { a, b } = await conflicting(f, liar);
      const treasuryBefore = await f.token.balanceOf(await f.timelock.getAddress());
      await expect(f.committee.connect(f.reporter).proveEquivocation(liar.address, f.marketAddress, f.escrowId, 1n, a, b))
        .to.emit(f.committee, "EquivocationSlashed")
        .withArgs(liar.address, f.reporter.address, f.escrowId, 1, 0, ftns(100));
      expect(await f.token.balanceOf(f.reporter.address)).to.equal(0n);
      expect(await f.token.balanceOf(await f.timelock.getAddress())).to.equal(treasuryBefore + ftns(100));
    });

    it("can still slash a member that left, during its unbonding", async () => {
      const f = await committeeFixture();
      const liar = f.nodes[1];
      const { a, b } = await conflicting(f, liar);
      await f.committee.connect(liar).leave();
      await f.committee.connect(f.reporter).proveEquivocation(liar.address, f.marketAddress, f.escrowId, 1n, a, b);
      expect((await f.committee.getMember(liar.address)).bond).to.equal(0n);
    });

    it("refuses a slashed member's signature in the epoch it replaced, even within the grace period", async () => {
      const f = await committeeFixture();
      await admitCandidate(f); // n = 5, quorum 4
      const liar = f.nodes[2];
      const r = report(f);
      const inFlight = await attestWith(f.committee, [f.nodes[0], f.nodes[1], liar, f.nodes[3]], r);
      const { a, b } = await conflicting(f, liar);
      await expect(f.committee.connect(f.nodes[0]).proveEquivocation(liar.address, f.marketAddress, f.escrowId, 1n, a, b))
        .to.emit(f.committee, "EpochGraceRevoked").withArgs(inFlight.epoch)
        .and.to.emit(f.committee, "EpochStarted");
      expect(await f.committee.currentEpoch()).to.equal(inFlight.epoch + 1n);
      // Within the grace period, but the replaced epoch holds the slashed member: it no longer verifies.
      await expect(f.committee.connect(f.market).verifyUsageAttestation(r.escrowId, r.cumulativeUnits, r.sequence, r.resultDigest, inFlight.bytes))
        .to.be.revertedWithCustomError(f.committee, "EpochRevoked").withArgs(inFlight.epoch);
      await expect(f.marketplace.chargeWithAttestation(r.escrowId, r.cumulativeUnits, r.sequence, r.resultDigest, inFlight.bytes))
        .to.be.revertedWithCustomError(f.committee, "EpochRevoked");
      // The honest members sign again in the current epoch (n = 4, quorum 3), and that one keeps its grace later.
      const fresh = await attestWith(f.committee, [f.nodes[0], f.nodes[1], f.candidate], r);
      await f.token.connect(f.treasury).transfer(f.outsider.address, ftns(100));
      await f.token.connect(f.outsider).approve(await f.committee.getAddress(), ftns(100));
      await admitCandidate(f, f.outsider);
      await f.committee.connect(f.market).verifyUsageAttestation(r.escrowId, r.cumulativeUnits, r.sequence, r.resultDigest, fresh.bytes);
    });

    it("refuses a departed equivocator's signature in the epoch it left, even within the grace period", async () => {
      const f = await committeeFixture();
      await admitCandidate(f); // n = 5, quorum 4
      const liar = f.nodes[2];
      const r = report(f);
      const inFlight = await attestWith(f.committee, [f.nodes[0], f.nodes[1], liar, f.nodes[3]], r);
      const { a, b } = await conflicting(f, liar);
      await f.committee.connect(liar).leave();
      expect((await f.committee.getMember(liar.address)).lastEpoch).to.equal(inFlight.epoch);
      await f.committee.connect(f.market).verifyUsageAttestation(r.escrowId, r.cumulativeUnits, r.sequence, r.resultDigest, inFlight.bytes);
      await expect(f.committee.connect(f.reporter).proveEquivocation(liar.address, f.marketAddress, f.escrowId, 1n, a, b))
        .to.emit(f.committee, "EpochGraceRevoked").withArgs(inFlight.epoch);
      await expect(f.committee.connect(f.market).verifyUsageAttestation(r.escrowId, r.cumulativeUnits, r.sequence, r.resultDigest, inFlight.bytes))
        .to.be.revertedWithCustomError(f.committee, "EpochRevoked").withArgs(inFlight.epoch);
    });

    it("is not fooled by identical reports or by another member's signature", async () => {
      const f = await committeeFixture();
      const { a, b } = await conflicting(f, f.nodes[0]);
      const m = f.marketAddress;
      await expect(f.committee.proveEquivocation(f.nodes[0].address, m, f.escrowId, 1n, a, a))
        .to.be.revertedWithCustomError(f.committee, "NotEquivocation");
      await expect(f.committee.proveEquivocation(f.nodes[1].address, m, f.escrowId, 1n, a, b))
        .to.be.revertedWithCustomError(f.committee, "NotEquivocation");
      await expect(f.committee.proveEquivocation(f.nodes[0].address, m, f.escrowId, 2n, a, b))
        .to.be.revertedWithCustomError(f.committee, "NotEquivocation");
      await expect(f.committee.proveEquivocation(f.outsider.address, m, f.escrowId, 1n, a, b))
        .to.be.revertedWithCustomError(f.committee, "NotEquivocation");
      await expect(f.committee.proveEquivocation(f.nodes[0].address, f.outsider.address, f.escrowId, 1n, a, b))
        .to.be.revertedWithCustomError(f.committee, "NotEquivocation");
    });

    it("refuses to slash an honest node serving two marketplaces for different reports on each one's escrow", async () => {
      const f = await committeeFixture();
      const node = f.nodes[0];
      const other = f.outsider.address; // a second marketplace with its own escrow of the same id
      const epoch = await f.committee.currentEpoch();
      const onA = { cumulativeUnits: 1_000n, resultDigest: DIGEST, epoch };
      const onB = { cumulativeUnits: 7_000n, resultDigest: ethers.id("other answers"), epoch };
      const sigA = await signAttestation(f.committee, node, { marketplace: f.marketAddress, escrowId: f.escrowId, sequence: 1n, ...onA }, epoch);
      const sigB = await signAttestation(f.committee, node, { marketplace: other, escrowId: f.escrowId, sequence: 1n, ...onB }, epoch);
      for (const m of [f.marketAddress, other]) {
        await expect(f.committee.proveEquivocation(node.address, m, f.escrowId, 1n, { ...onA, signature: sigA }, { ...onB, signature: sigB }))
          .to.be.revertedWithCustomError(f.committee, "NotEquivocation");
      }
      expect((await f.committee.getMember(node.address)).slashed).to.equal(false);
    });
  });

  describe("batch attestations", () => {
    const entries = (f: Fixture, units = 1_000n) => [
      { escrowId: f.escrowId, sequence: 1n, cumulativeUnits: units, resultDigest: DIGEST as Hex },
      { escrowId: f.escrowId + 1n, sequence: 4n, cumulativeUnits: 20n, resultDigest: ethers.id("other") as Hex },
    ];

    it("verifies a quorum of the epoch's members over the entries' hash, for the calling marketplace", async () => {
      const f = await committeeFixture();
      const { words, bytes, epoch } = await attestBatch(f.committee, f.nodes.slice(0, 3), f.marketAddress, entries(f));
      await f.committee.connect(f.market).verifyBatchAttestation(entriesHash(words), bytes);
      // The digest is the EIP-712 hash of UsageBatch(marketplace, entriesHash, epoch) in the committee's domain.
      const domain = await committeeDomain(f.committee);
      const message = { marketplace: f.marketAddress, entriesHash: entriesHash(words), epoch };
      expect(await f.committee.batchDigest(f.marketAddress, entriesHash(words), epoch))
        .to.equal(ethers.TypedDataEncoder.hash(domain, BATCH_EIP712_TYPES, message));
      expect(await f.committee.batchDigest(f.outsider.address, entriesHash(words), epoch))
        .to.not.equal(await f.committee.batchDigest(f.marketAddress, entriesHash(words), epoch));
      // A single-report attestation's signatures are not a batch's, nor the other way round.
      const single = await attestWith(f.committee, f.nodes.slice(0, 3), report(f));
      await expect(f.committee.connect(f.market).verifyBatchAttestation(entriesHash(words), single.bytes))
        .to.be.revertedWithCustomError(f.committee, "InvalidMemberSignature");
      const r = report(f);
      await expect(f.committee.connect(f.market).verifyUsageAttestation(r.escrowId, r.cumulativeUnits, r.sequence, r.resultDigest, bytes))
        .to.be.revertedWithCustomError(f.committee, "InvalidMemberSignature");
    });

    it("refuses fewer than the quorum, an unknown epoch, another member list, a bad signature and another marketplace", async () => {
      const f = await committeeFixture();
      const { words, bytes, epoch, members, signatures } = await attestBatch(f.committee, f.nodes.slice(0, 3), f.marketAddress, entries(f));
      const hash = entriesHash(words);
      const two = await attestBatch(f.committee, f.nodes.slice(0, 2), f.marketAddress, entries(f));
      await expect(f.committee.connect(f.market).verifyBatchAttestation(hash, two.bytes))
        .to.be.revertedWithCustomError(f.committee, "QuorumNotMet").withArgs(2, 3);
      await expect(f.committee.connect(f.market).verifyBatchAttestation(hash, encodeAttestation(epoch + 1n, members, 0b111n, signatures)))
        .to.be.revertedWithCustomError(f.committee, "UnknownEpoch").withArgs(epoch + 1n, epoch);
      const swapped = [...members];
      swapped[3] = f.outsider.address;
      await expect(f.committee.connect(f.market).verifyBatchAttestation(hash, encodeAttestation(epoch, swapped, 0b111n, signatures)))
        .to.be.revertedWithCustomError(f.committee, "MembersMismatch").withArgs(epoch);
      const forged = [...signatures];
      forged[1] = await signBatchWords(f.committee, f.outsider, f.marketAddress, words, epoch);
      await expect(f.committee.connect(f.market).verifyBatchAttestation(hash, encodeAttestation(epoch, members, 0b111n, forged)))
        .to.be.revertedWithCustomError(f.committee, "InvalidMemberSignature").withArgs(1, members[1]);
      await expect(f.committee.connect(f.market).verifyBatchAttestation(entriesHash(encodeEntries(entries(f, 1_001n))), bytes))
        .to.be.revertedWithCustomError(f.committee, "InvalidMemberSignature").withArgs(0, members[0]);
      await expect(f.committee.connect(f.outsider).verifyBatchAttestation(hash, bytes))
        .to.be.revertedWithCustomError(f.committee, "InvalidMemberSignature").withArgs(0, members[0]);
      const otherChain = await attestBatch(f.committee, f.nodes.slice(0, 3), f.marketAddress, entries(f), { chainId: 137n });
      await expect(f.committee.connect(f.market).verifyBatchAttestation(hash, otherChain.bytes))
        .to.be.revertedWithCustomError(f.committee, "InvalidMemberSignature");
      await expect(f.committee.connect(f.market).verifyBatchAttestation(hash, encodeAttestation(epoch, members, 0b1111n, signatures)))
        .to.be.revertedWithCustomError(f.committee, "SignatureCountMismatch").withArgs(3, 4);
    });

    it("keeps a batch attested in the replaced epoch valid for the grace period only", async () => {
      const f = await committeeFixture();
      const { words, bytes } = await attestBatch(f.committee, f.nodes.slice(0, 3), f.marketAddress, entries(f));
      await admitCandidate(f);
      await f.committee.connect(f.market).verifyBatchAttestation(entriesHash(words), bytes);
      await time.increase(301);
      await expect(f.committee.connect(f.market).verifyBatchAttestation(entriesHash(words), bytes))
        .to.be.revertedWithCustomError(f.committee, "EpochExpired");
    });
  });

  describe("equivocation across batches", () => {
    /** `signer`'s signature over a batch whose entry `index` is (escrowId, sequence 1) with `units`. */
    async function signedBatch(f: Fixture, signer: HardhatEthersSigner, units: bigint, opts: { index?: number; sequence?: bigint; digest?: string; marketplace?: string } = {}) {
      const epoch = await f.committee.currentEpoch();
      const position = { escrowId: f.escrowId, sequence: opts.sequence ?? 1n, cumulativeUnits: units, resultDigest: (opts.digest ?? DIGEST) as Hex };
      const filler = { escrowId: f.escrowId + 7n, sequence: 9n, cumulativeUnits: 3n, resultDigest: ethers.id("filler") as Hex };
      const list = opts.index === 1 ? [filler, position] : [position, filler];
      const words = encodeEntries(list);
      const signature = await signBatchWords(f.committee, signer, opts.marketplace ?? f.marketAddress, words, epoch);
      return { entries: words, index: opts.index ?? 0, epoch, signature };
    }

    it("slashes a member that signed two batches with different content at one position", async () => {
      const f = await committeeFixture();
      const liar = f.nodes[2];
      const a = await signedBatch(f, liar, 1_000n);
      const b = await signedBatch(f, liar, 5_000n, { index: 1 });
      const treasuryBefore = await f.token.balanceOf(await f.timelock.getAddress());
      await expect(f.committee.connect(f.nodes[0]).proveBatchEquivocation(liar.address, f.marketAddress, a, b))
        .to.emit(f.committee, "EquivocationSlashed")
        .withArgs(liar.address, f.nodes[0].address, f.escrowId, 1, ftns(50), ftns(50));
      expect(await f.token.balanceOf(await f.timelock.getAddress())).to.equal(treasuryBefore + ftns(50));
      const member = await f.committee.getMember(liar.address);
      expect([member.active, member.slashed, member.bond]).to.deep.equal([false, true, 0n]);
      await expect(f.committee.proveBatchEquivocation(liar.address, f.marketAddress, a, b))
        .to.be.revertedWithCustomError(f.committee, "MemberSlashed").withArgs(liar.address);
    });

    it("slashes on a different result digest alone", async () => {
      const f = await committeeFixture();
      const a = await signedBatch(f, f.nodes[1], 1_000n);
      const b = await signedBatch(f, f.nodes[1], 1_000n, { digest: ethers.id("tampered") });
      await expect(f.committee.proveBatchEquivocation(f.nodes[1].address, f.marketAddress, a, b)).to.emit(f.committee, "EquivocationSlashed");
    });

    it("is not fooled by the same content, different positions, another signer, another marketplace or a bad index", async () => {
      const f = await committeeFixture();
      const node = f.nodes[0];
      const a = await signedBatch(f, node, 1_000n);
      const same = await signedBatch(f, node, 1_000n, { index: 1 });
      const otherSequence = await signedBatch(f, node, 5_000n, { sequence: 2n });
      const otherEntry = { ...(await signedBatch(f, node, 5_000n)), index: 1 }; // the filler: another escrow
      const byOther = await signedBatch(f, f.nodes[1], 5_000n);
      const forOther = await signedBatch(f, node, 5_000n, { marketplace: f.outsider.address });
      const m = f.marketAddress;
      for (const [x, y, who] of [[a, same, node], [a, otherSequence, node], [a, otherEntry, node], [a, byOther, node], [a, byOther, f.nodes[1]], [a, forOther, node]] as const) {
        await expect(f.committee.proveBatchEquivocation(who.address, m, x, y)).to.be.revertedWithCustomError(f.committee, "NotEquivocation");
      }
      await expect(f.committee.proveBatchEquivocation(node.address, m, { ...a, index: 2 }, same))
        .to.be.revertedWithCustomError(f.committee, "BatchIndexOutOfRange").withArgs(2, 2);
      expect((await f.committee.getMember(node.address)).slashed).to.equal(false);
    });

    it("slashes a member whose single report and batch entry conflict at one position", async () => {
      const f = await committeeFixture();
      const liar = f.nodes[3];
      const epoch = await f.committee.currentEpoch();
      const single = { cumulativeUnits: 1_000n, resultDigest: DIGEST, epoch };
      const signature = await signAttestation(f.committee, liar, { ...report(f), ...single }, epoch);
      const b = await signedBatch(f, liar, 9_000n, { index: 1 });
      await expect(f.committee.connect(f.reporter).proveMixedEquivocation(liar.address, f.marketAddress, f.escrowId, 1n, { ...single, signature }, b))
        .to.emit(f.committee, "EquivocationSlashed")
        .withArgs(liar.address, f.reporter.address, f.escrowId, 1, 0, ftns(100));
      expect((await f.committee.getMember(liar.address)).slashed).to.equal(true);
    });

    it("refuses a mixed proof with the same content, another position or another signer", async () => {
      const f = await committeeFixture();
      const node = f.nodes[0];
      const epoch = await f.committee.currentEpoch();
      const single = { cumulativeUnits: 1_000n, resultDigest: DIGEST, epoch };
      const a = { ...single, signature: await signAttestation(f.committee, node, { ...report(f), ...single }, epoch) };
      const same = await signedBatch(f, node, 1_000n);
      const conflicting = await signedBatch(f, node, 2_000n);
      const m = f.marketAddress;
      await expect(f.committee.proveMixedEquivocation(node.address, m, f.escrowId, 1n, a, same)).to.be.revertedWithCustomError(f.committee, "NotEquivocation");
      await expect(f.committee.proveMixedEquivocation(node.address, m, f.escrowId, 2n, a, conflicting)).to.be.revertedWithCustomError(f.committee, "NotEquivocation");
      await expect(f.committee.proveMixedEquivocation(node.address, m, f.escrowId + 1n, 1n, a, conflicting)).to.be.revertedWithCustomError(f.committee, "NotEquivocation");
      await expect(f.committee.proveMixedEquivocation(node.address, m, f.escrowId, 1n, a, { ...conflicting, index: 1 })).to.be.revertedWithCustomError(f.committee, "NotEquivocation");
      const byOther = await signedBatch(f, f.nodes[1], 2_000n);
      await expect(f.committee.proveMixedEquivocation(node.address, m, f.escrowId, 1n, a, byOther)).to.be.revertedWithCustomError(f.committee, "NotEquivocation");
      await expect(f.committee.proveMixedEquivocation(f.nodes[1].address, m, f.escrowId, 1n, a, byOther)).to.be.revertedWithCustomError(f.committee, "NotEquivocation");
      await expect(f.committee.proveMixedEquivocation(node.address, m, f.escrowId, 1n, a, { ...conflicting, index: 5 }))
        .to.be.revertedWithCustomError(f.committee, "BatchIndexOutOfRange").withArgs(5, 2);
      await f.committee.proveMixedEquivocation(node.address, m, f.escrowId, 1n, a, conflicting);
    });
  });

  describe("governance parameters", () => {
    it("lets only the timelock change parameters and the treasury, within bounds", async () => {
      const f = await committeeFixture();
      const current = await currentParameters(f);
      await expect(f.committee.connect(f.outsider).setParameters(current))
        .to.be.revertedWithCustomError(f.committee, "AccessControlUnauthorizedAccount");
      await expect(f.committee.connect(f.outsider).setTreasury(f.outsider.address))
        .to.be.revertedWithCustomError(f.committee, "AccessControlUnauthorizedAccount");
      await expect(f.committee.connect(f.treasury).setParameters({ ...current, slashRewardBps: 10_001 }))
        .to.be.revertedWithCustomError(f.committee, "InvalidParameter").withArgs("slashRewardBps");
      await expect(f.committee.connect(f.treasury).setParameters({ ...current, autoAdmissionBond: 1n }))
        .to.be.revertedWithCustomError(f.committee, "InvalidParameter").withArgs("autoAdmissionBond");
      await expect(f.committee.connect(f.treasury).setParameters({ ...current, minCommitteeSize: 0 }))
        .to.be.revertedWithCustomError(f.committee, "MinCommitteeSizeTooLow").withArgs(0, 4);
      await expect(f.committee.connect(f.treasury).setParameters({ ...current, minCommitteeSize: 256 }))
        .to.be.revertedWithCustomError(f.committee, "InvalidParameter").withArgs("minCommitteeSize");
      await expect(f.committee.connect(f.treasury).setParameters({ ...current, epochGrace: 10 })).to.emit(f.committee, "ParametersUpdated");
      await expect(f.committee.connect(f.treasury).setTreasury(ethers.ZeroAddress))
        .to.be.revertedWithCustomError(f.committee, "CommitteeZeroAddress").withArgs("treasury");
      await f.committee.connect(f.treasury).setTreasury(f.reporter.address);
      expect(await f.committee.treasury()).to.equal(f.reporter.address);
    });

    it("refuses a minimum committee size below 4, in setParameters and in initialize", async () => {
      const f = await committeeFixture();
      const current = await currentParameters(f);
      for (const size of [1, 2, 3]) {
        await expect(f.committee.connect(f.treasury).setParameters({ ...current, minCommitteeSize: size }))
          .to.be.revertedWithCustomError(f.committee, "MinCommitteeSizeTooLow").withArgs(size, 4);
      }
      await f.committee.connect(f.treasury).setParameters({ ...current, minCommitteeSize: 4 });
      const implementation = await (await ethers.getContractFactory("FederationCommittee")).deploy(await f.token.getAddress());
      const init = (minCommitteeSize: number) => implementation.interface.encodeFunctionData("initialize", [{
        admin: f.outsider.address, treasury: f.outsider.address, bootstrapAdmitter: ethers.ZeroAddress,
        params: { ...current, minCommitteeSize },
      }]);
      const proxy = await ethers.getContractFactory("ProtocolProxy");
      await expect(proxy.deploy(await implementation.getAddress(), init(3)))
        .to.be.revertedWithCustomError(implementation, "MinCommitteeSizeTooLow").withArgs(3, 4);
      await proxy.deploy(await implementation.getAddress(), init(4));
    });

    it("refuses an implementation without a token, and a second initialisation", async () => {
      const f = await committeeFixture();
      const factory = await ethers.getContractFactory("FederationCommittee");
      await expect(factory.deploy(ethers.ZeroAddress)).to.be.revertedWithCustomError(factory, "CommitteeZeroAddress").withArgs("token");
      const params = { admin: f.outsider.address, treasury: f.outsider.address, bootstrapAdmitter: ethers.ZeroAddress, params: await currentParameters(f) };
      await expect(f.committee.initialize(params)).to.be.revertedWithCustomError(f.committee, "InvalidInitialization");
    });
  });
});
