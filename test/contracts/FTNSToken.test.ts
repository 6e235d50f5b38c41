import { expect } from "chai";
import { deployments, ethers, upgrades } from "hardhat";
import { parametersFor } from "../../config/parameters";
import { time, mine } from "@nomicfoundation/hardhat-network-helpers";
import { anyValue } from "@nomicfoundation/hardhat-chai-matchers/withArgs";
import { deployProtocol, ftns, impersonate } from "../support/fixtures";
import { signDelegation, signPermit } from "../support/signatures";

const MINTER_ROLE = ethers.id("MINTER_ROLE");
const GUARDIAN_ROLE = ethers.id("GUARDIAN_ROLE");
const UPGRADER_ROLE = ethers.id("UPGRADER_ROLE");
const DEFAULT_ADMIN_ROLE = ethers.ZeroHash;

/** The deployed protocol plus a minter and two funded, self-delegated holders. */
const tokenFixture = deployments.createFixture(async () => {
  const protocol = await deployProtocol();
  const { token, timelock, deployer, users } = protocol;
  const [alice, bob, carol, minter, outsider] = users;
  const treasury = await impersonate(await timelock.getAddress());
  await token.connect(treasury).grantRole(MINTER_ROLE, minter.address);
  await token.connect(treasury).transfer(alice.address, ftns(1_000));
  await token.connect(treasury).transfer(bob.address, ftns(500));
  return { ...protocol, treasury, alice, bob, carol, minter, outsider, guardian: deployer };
});

describe("FTNSToken", () => {
  describe("initialisation", () => {
    it("mints 100,000,000 FTNS to the timelock treasury and nothing else", async () => {
      const { token, timelock } = await deployProtocol();
      const mints = await token.queryFilter(token.filters.Transfer(ethers.ZeroAddress));
      expect(mints.map((m) => [m.args.to, m.args.value])).to.deep.equal([[await timelock.getAddress(), ftns(100_000_000)]]);
      // The local deployment pays demo accounts (provider, committee nodes) out of the treasury, through the timelock.
      const tl = await timelock.getAddress();
      const paidOut = (await token.queryFilter(token.filters.Transfer(tl))).reduce((sum, t) => sum + t.args.value, 0n);
      expect(paidOut).to.equal(parametersFor("hardhat").localFunding!.amount * 5n);
      expect(await token.name()).to.equal("PRSM FTNS");
      expect(await token.symbol()).to.equal("FTNS");
      expect(await token.decimals()).to.equal(18n);
      expect(await token.totalSupply()).to.equal(ftns(100_000_000));
      expect(await token.balanceOf(await timelock.getAddress())).to.equal(ftns(100_000_000) - paidOut);
      expect(await token.INITIAL_SUPPLY()).to.equal(ftns(100_000_000));
      expect(await token.MAX_SUPPLY()).to.equal(ftns(1_000_000_000));
      expect(await token.cap()).to.equal(ftns(1_000_000_000));
    });

    it("gives the timelock admin and upgrader roles, the guardian only the guardian role, nobody the minter role", async () => {
      const { token, timelock, deployer } = await deployProtocol();
      const tl = await timelock.getAddress();
      expect(await token.hasRole(DEFAULT_ADMIN_ROLE, tl)).to.equal(true);
      expect(await token.hasRole(UPGRADER_ROLE, tl)).to.equal(true);
      expect(await token.hasRole(MINTER_ROLE, tl)).to.equal(false);
      expect(await token.hasRole(GUARDIAN_ROLE, deployer.address)).to.equal(true);
      expect(await token.hasRole(DEFAULT_ADMIN_ROLE, deployer.address)).to.equal(false);
      expect(await token.hasRole(UPGRADER_ROLE, deployer.address)).to.equal(false);
    });

    it("uses a timestamp clock (ERC-6372)", async () => {
      const { token } = await deployProtocol();
      expect(await token.CLOCK_MODE()).to.equal("mode=timestamp");
      expect(await token.clock()).to.equal(BigInt(await time.latest()));
    });

    it("cannot be initialised twice, nor can its implementation be initialised at all", async () => {
      const { token, users } = await deployProtocol();
      const a = users[0].address;
      await expect(token.initialize(a, a, a)).to.be.revertedWithCustomError(token, "InvalidInitialization");
      const implementation = await ethers.getContractAt(
        "FTNSToken",
        await upgrades.erc1967.getImplementationAddress(await token.getAddress()),
      );
      await expect(implementation.initialize(a, a, a)).to.be.revertedWithCustomError(token, "InvalidInitialization");
    });

    for (const [index, parameter] of ["treasury", "admin", "guardian"].entries()) {
      it(`rejects a zero ${parameter} with FTNSZeroAddress("${parameter}")`, async () => {
        const { users } = await deployProtocol();
        const implementation = await (await ethers.getContractFactory("FTNSToken")).deploy();
        const args: [string, string, string] = [users[0].address, users[0].address, users[0].address];
        args[index] = ethers.ZeroAddress;
        const data = implementation.interface.encodeFunctionData("initialize", args);
        const proxyFactory = await ethers.getContractFactory("ProtocolProxy");
        await expect(proxyFactory.deploy(await implementation.getAddress(), data))
          .to.be.revertedWithCustomError(implementation, "FTNSZeroAddress")
          .withArgs(parameter);
      });
    }
  });

  describe("mint", () => {
    it("lets a minter mint, moving total supply and the recipient's delegate's votes", async () => {
      const { token, minter, alice } = await tokenFixture();
      await token.connect(alice).delegate(alice.address);
      await expect(token.connect(minter).mint(alice.address, ftns(5)))
        .to.emit(token, "Transfer")
        .withArgs(ethers.ZeroAddress, alice.address, ftns(5));
      expect(await token.balanceOf(alice.address)).to.equal(ftns(1_005));
      expect(await token.getVotes(alice.address)).to.equal(ftns(1_005));
      expect(await token.totalSupply()).to.equal(ftns(100_000_005));
    });

    it("rejects a caller without the minter role", async () => {
      const { token, outsider, treasury } = await tokenFixture();
      for (const caller of [outsider, treasury]) {
        await expect(token.connect(caller).mint(caller.address, 1n))
          .to.be.revertedWithCustomError(token, "AccessControlUnauthorizedAccount")
          .withArgs(caller.address, MINTER_ROLE);
      }
    });

    it("mints exactly up to the cap and not one wei more", async () => {
      const { token, minter, alice } = await tokenFixture();
      const room = (await token.MAX_SUPPLY()) - (await token.totalSupply());
      await token.connect(minter).mint(alice.address, room);
      expect(await token.totalSupply()).to.equal(await token.MAX_SUPPLY());
      await expect(token.connect(minter).mint(alice.address, 1n))
        .to.be.revertedWithCustomError(token, "ERC20ExceededCap")
        .withArgs(ftns(1_000_000_000) + 1n, ftns(1_000_000_000));
    });

    it("rejects minting to the zero address", async () => {
      const { token, minter } = await tokenFixture();
      await expect(token.connect(minter).mint(ethers.ZeroAddress, 1n))
        .to.be.revertedWithCustomError(token, "ERC20InvalidReceiver")
        .withArgs(ethers.ZeroAddress);
    });
  });

  describe("transfers", () => {
    it("moves balances and emits Transfer", async () => {
      const { token, alice, bob } = await tokenFixture();
      await expect(token.connect(alice).transfer(bob.address, ftns(10)))
        .to.emit(token, "Transfer")
        .withArgs(alice.address, bob.address, ftns(10));
      expect(await token.balanceOf(alice.address)).to.equal(ftns(990));
      expect(await token.balanceOf(bob.address)).to.equal(ftns(510));
    });

    it("rejects a transfer above the balance with ERC20InsufficientBalance", async () => {
      const { token, alice, bob } = await tokenFixture();
      await expect(token.connect(alice).transfer(bob.address, ftns(1_001)))
        .to.be.revertedWithCustomError(token, "ERC20InsufficientBalance")
        .withArgs(alice.address, ftns(1_000), ftns(1_001));
    });

    it("rejects a transfer to the zero address", async () => {
      const { token, alice } = await tokenFixture();
      await expect(token.connect(alice).transfer(ethers.ZeroAddress, 1n))
        .to.be.revertedWithCustomError(token, "ERC20InvalidReceiver")
        .withArgs(ethers.ZeroAddress);
    });

    it("spends allowance in transferFrom and rejects more than allowed", async () => {
      const { token, alice, bob, carol } = await tokenFixture();
      await token.connect(alice).approve(carol.address, ftns(3));
      await token.connect(carol).transferFrom(alice.address, bob.address, ftns(2));
      expect(await token.allowance(alice.address, carol.address)).to.equal(ftns(1));
      await expect(token.connect(carol).transferFrom(alice.address, bob.address, ftns(2)))
        .to.be.revertedWithCustomError(token, "ERC20InsufficientAllowance")
        .withArgs(carol.address, ftns(1), ftns(2));
    });
  });

  describe("burn", () => {
    it("lets a holder burn its own tokens, reducing supply and votes", async () => {
      const { token, alice } = await tokenFixture();
      await token.connect(alice).delegate(alice.address);
      await token.connect(alice).burn(ftns(100));
      expect(await token.balanceOf(alice.address)).to.equal(ftns(900));
      expect(await token.totalSupply()).to.equal(ftns(100_000_000 - 100));
      expect(await token.getVotes(alice.address)).to.equal(ftns(900));
    });

    it("rejects burning more than the balance", async () => {
      const { token, alice } = await tokenFixture();
      await expect(token.connect(alice).burn(ftns(1_001)))
        .to.be.revertedWithCustomError(token, "ERC20InsufficientBalance")
        .withArgs(alice.address, ftns(1_000), ftns(1_001));
    });

    it("burns another holder's tokens only within an allowance", async () => {
      const { token, alice, carol } = await tokenFixture();
      await expect(token.connect(carol).burnFrom(alice.address, 1n))
        .to.be.revertedWithCustomError(token, "ERC20InsufficientAllowance")
        .withArgs(carol.address, 0n, 1n);
      await token.connect(alice).approve(carol.address, ftns(7));
      await token.connect(carol).burnFrom(alice.address, ftns(7));
      expect(await token.balanceOf(alice.address)).to.equal(ftns(993));
      expect(await token.allowance(alice.address, carol.address)).to.equal(0n);
    });

    it("gives a minter no power to burn other holders' tokens", async () => {
      const { token, alice, minter } = await tokenFixture();
      await expect(token.connect(minter).burnFrom(alice.address, 1n)).to.be.revertedWithCustomError(
        token,
        "ERC20InsufficientAllowance",
      );
    });
  });

  describe("pause", () => {
    it("lets the guardian stop transfers, mints and burns, and resume them", async () => {
      const { token, guardian, alice, bob, minter } = await tokenFixture();
      await expect(token.connect(guardian).pause()).to.emit(token, "Paused").withArgs(guardian.address);
      await expect(token.connect(alice).transfer(bob.address, 1n)).to.be.revertedWithCustomError(token, "EnforcedPause");
      await expect(token.connect(minter).mint(bob.address, 1n)).to.be.revertedWithCustomError(token, "EnforcedPause");
      await expect(token.connect(alice).burn(1n)).to.be.revertedWithCustomError(token, "EnforcedPause");
      await expect(token.connect(guardian).unpause()).to.emit(token, "Unpaused").withArgs(guardian.address);
      await token.connect(alice).transfer(bob.address, 1n);
    });

    it("keeps delegation working while paused, so governance can still act", async () => {
      const { token, guardian, alice } = await tokenFixture();
      await token.connect(guardian).pause();
      await token.connect(alice).delegate(alice.address);
      expect(await token.getVotes(alice.address)).to.equal(ftns(1_000));
    });

    it("rejects pause and unpause from anyone but the guardian", async () => {
      const { token, outsider, treasury, guardian } = await tokenFixture();
      for (const caller of [outsider, treasury]) {
        await expect(token.connect(caller).pause())
          .to.be.revertedWithCustomError(token, "AccessControlUnauthorizedAccount")
          .withArgs(caller.address, GUARDIAN_ROLE);
      }
      await token.connect(guardian).pause();
      await expect(token.connect(outsider).unpause())
        .to.be.revertedWithCustomError(token, "AccessControlUnauthorizedAccount")
        .withArgs(outsider.address, GUARDIAN_ROLE);
    });

    it("rejects pausing twice and unpausing when not paused", async () => {
      const { token, guardian } = await tokenFixture();
      await expect(token.connect(guardian).unpause()).to.be.revertedWithCustomError(token, "ExpectedPause");
      await token.connect(guardian).pause();
      await expect(token.connect(guardian).pause()).to.be.revertedWithCustomError(token, "EnforcedPause");
    });
  });

  describe("pause window", () => {
    const MAX_PAUSE = 14n * 24n * 3600n;

    it("refuses to stay paused past MAX_PAUSE: transfers work again with no call", async () => {
      const { token, guardian, alice, bob } = await tokenFixture();
      const tx = await token.connect(guardian).pause();
      const until = BigInt(await time.latest()) + MAX_PAUSE;
      await time.increaseTo(until - 2n);
      expect(await token.paused()).to.equal(true);
      await expect(token.connect(alice).transfer(bob.address, 1n)).to.be.revertedWithCustomError(token, "EnforcedPause");
      await time.increaseTo(until);
      expect(await token.paused()).to.equal(false);
      await expect(token.connect(alice).transfer(bob.address, 1n)).to.emit(token, "Transfer");
      await expect(token.connect(guardian).unpause()).to.be.revertedWithCustomError(token, "ExpectedPause");
      await expect(tx).to.emit(token, "Paused").withArgs(guardian.address).and.to.emit(token, "PauseEndChanged").withArgs(until);
      expect(await token.MAX_PAUSE()).to.equal(MAX_PAUSE);
      expect(await token.pausedUntil()).to.equal(until);
    });

    it("refuses the guardian a new pause until it has waited as long as its last pause lasted", async () => {
      const { token, guardian, alice, bob } = await tokenFixture();
      await token.connect(guardian).pause();
      const pausedAt = BigInt(await time.latest());
      await time.increaseTo(pausedAt + 3600n);
      await token.connect(guardian).unpause(); // lasted about an hour
      const ended = await token.pausedUntil();
      await expect(token.connect(guardian).pause())
        .to.be.revertedWithCustomError(token, "FTNSPauseCooldown")
        .withArgs(ended + (ended - pausedAt));
      await time.increaseTo(ended + (ended - pausedAt));
      await token.connect(guardian).pause();
      // A pause left to expire costs a full MAX_PAUSE of cooldown: the guardian alone keeps FTNS paused at most
      // half of the time, and governance has that long to decide whether to keep it.
      const expiry = await token.pausedUntil();
      await time.increaseTo(expiry + MAX_PAUSE - 2n);
      await expect(token.connect(guardian).pause())
        .to.be.revertedWithCustomError(token, "FTNSPauseCooldown")
        .withArgs(expiry + MAX_PAUSE);
      await token.connect(alice).transfer(bob.address, 1n); // mined at expiry + MAX_PAUSE
      await token.connect(guardian).pause();
    });

    it("lets governance extend a pause past MAX_PAUSE or end it early, and refuses that to anyone else", async () => {
      const { token, guardian, treasury, outsider, alice, bob } = await tokenFixture();
      for (const caller of [guardian, outsider]) {
        await expect(token.connect(caller).setPausedUntil(1n))
          .to.be.revertedWithCustomError(token, "AccessControlUnauthorizedAccount")
          .withArgs(caller.address, DEFAULT_ADMIN_ROLE);
      }
      await token.connect(guardian).pause();
      const extended = BigInt(await time.latest()) + 3n * MAX_PAUSE;
      await expect(token.connect(treasury).setPausedUntil(extended))
        .to.emit(token, "PauseEndChanged")
        .withArgs(extended)
        .and.not.to.emit(token, "Paused");
      await time.increase(2n * MAX_PAUSE);
      await expect(token.connect(alice).transfer(bob.address, 1n)).to.be.revertedWithCustomError(token, "EnforcedPause");
      await expect(token.connect(treasury).setPausedUntil(0n)).to.emit(token, "Unpaused").withArgs(treasury.address);
      expect(await token.paused()).to.equal(false);
      expect(await token.pausedUntil()).to.equal(BigInt(await time.latest()));
      await token.connect(alice).transfer(bob.address, 1n);
      // Governance may also pause by itself (a proposal), for as long as it decides.
      await expect(token.connect(treasury).setPausedUntil(extended + MAX_PAUSE)).to.emit(token, "Paused").withArgs(treasury.address);
      expect(await token.paused()).to.equal(true);
    });
  });

  describe("permit (EIP-2612)", () => {
    it("sets an allowance from a signature and consumes the nonce", async () => {
      const { token, alice, carol } = await tokenFixture();
      const deadline = BigInt(await time.latest()) + 3600n;
      const sig = await signPermit(token, alice, carol.address, ftns(50), deadline);
      await expect(token.connect(carol).permit(alice.address, carol.address, ftns(50), deadline, sig.v, sig.r, sig.s))
        .to.emit(token, "Approval")
        .withArgs(alice.address, carol.address, ftns(50));
      expect(await token.allowance(alice.address, carol.address)).to.equal(ftns(50));
      expect(await token.nonces(alice.address)).to.equal(1n);
    });

    it("rejects an expired signature", async () => {
      const { token, alice, carol } = await tokenFixture();
      const deadline = BigInt(await time.latest()) - 1n;
      const sig = await signPermit(token, alice, carol.address, ftns(50), deadline);
      await expect(token.permit(alice.address, carol.address, ftns(50), deadline, sig.v, sig.r, sig.s))
        .to.be.revertedWithCustomError(token, "ERC2612ExpiredSignature")
        .withArgs(deadline);
    });

    it("rejects a replayed signature", async () => {
      const { token, alice, carol } = await tokenFixture();
      const deadline = BigInt(await time.latest()) + 3600n;
      const sig = await signPermit(token, alice, carol.address, ftns(50), deadline);
      await token.permit(alice.address, carol.address, ftns(50), deadline, sig.v, sig.r, sig.s);
      await expect(
        token.permit(alice.address, carol.address, ftns(50), deadline, sig.v, sig.r, sig.s),
      ).to.be.revertedWithCustomError(token, "ERC2612InvalidSigner");
    });

    it("rejects a signature by someone other than the owner", async () => {
      const { token, alice, bob, carol } = await tokenFixture();
      const deadline = BigInt(await time.latest()) + 3600n;
      const sig = await signPermit(token, bob, carol.address, ftns(50), deadline, 0n);
      await expect(token.permit(alice.address, carol.address, ftns(50), deadline, sig.v, sig.r, sig.s))
        .to.be.revertedWithCustomError(token, "ERC2612InvalidSigner")
        .withArgs(anyValue, alice.address);
    });
  });

  describe("votes (ERC-5805)", () => {
    it("counts nothing until a holder delegates, then tracks transfers between delegates", async () => {
      const { token, alice, bob } = await tokenFixture();
      expect(await token.getVotes(alice.address)).to.equal(0n);
      await expect(token.connect(alice).delegate(alice.address))
        .to.emit(token, "DelegateChanged")
        .withArgs(alice.address, ethers.ZeroAddress, alice.address);
      await token.connect(bob).delegate(bob.address);
      await expect(token.connect(alice).transfer(bob.address, ftns(100)))
        .to.emit(token, "DelegateVotesChanged")
        .withArgs(alice.address, ftns(1_000), ftns(900));
      expect(await token.getVotes(alice.address)).to.equal(ftns(900));
      expect(await token.getVotes(bob.address)).to.equal(ftns(600));
      expect(await token.delegates(alice.address)).to.equal(alice.address);
    });

    it("answers past votes and past total supply by timestamp", async () => {
      const { token, alice, bob, minter } = await tokenFixture();
      await token.connect(alice).delegate(alice.address);
      const before = await time.latest();
      await mine(1);
      await token.connect(alice).transfer(bob.address, ftns(400));
      await token.connect(minter).mint(bob.address, ftns(1));
      await mine(1);
      expect(await token.getPastVotes(alice.address, before)).to.equal(ftns(1_000));
      expect(await token.getVotes(alice.address)).to.equal(ftns(600));
      expect(await token.getPastTotalSupply(before)).to.equal(ftns(100_000_000));
      expect(await token.getPastTotalSupply((await time.latest()) - 1)).to.equal(ftns(100_000_001));
    });

    it("rejects a lookup at or after the current timestamp with ERC5805FutureLookup", async () => {
      const { token, alice } = await tokenFixture();
      const now = await token.clock();
      await expect(token.getPastVotes(alice.address, now + 10n))
        .to.be.revertedWithCustomError(token, "ERC5805FutureLookup")
        .withArgs(now + 10n, now);
    });

    it("delegates by signature, once", async () => {
      const { token, alice, bob, carol } = await tokenFixture();
      const expiry = BigInt(await time.latest()) + 3600n;
      const sig = await signDelegation(token, alice, bob.address, expiry);
      await token.connect(carol).delegateBySig(bob.address, 0n, expiry, sig.v, sig.r, sig.s);
      expect(await token.delegates(alice.address)).to.equal(bob.address);
      expect(await token.getVotes(bob.address)).to.equal(ftns(1_000));
      await expect(token.connect(carol).delegateBySig(bob.address, 0n, expiry, sig.v, sig.r, sig.s))
        .to.be.revertedWithCustomError(token, "InvalidAccountNonce")
        .withArgs(alice.address, 1n);
    });

    it("rejects an expired delegation signature", async () => {
      const { token, alice, bob } = await tokenFixture();
      const expiry = BigInt(await time.latest()) - 1n;
      const sig = await signDelegation(token, alice, bob.address, expiry);
      await expect(token.delegateBySig(bob.address, 0n, expiry, sig.v, sig.r, sig.s))
        .to.be.revertedWithCustomError(token, "VotesExpiredSignature")
        .withArgs(expiry);
    });
  });

  describe("roles", () => {
    it("lets only the admin (the timelock) grant roles", async () => {
      const { token, outsider, treasury, alice } = await tokenFixture();
      await expect(token.connect(outsider).grantRole(MINTER_ROLE, outsider.address))
        .to.be.revertedWithCustomError(token, "AccessControlUnauthorizedAccount")
        .withArgs(outsider.address, DEFAULT_ADMIN_ROLE);
      await expect(token.connect(treasury).grantRole(GUARDIAN_ROLE, alice.address))
        .to.emit(token, "RoleGranted")
        .withArgs(GUARDIAN_ROLE, alice.address, treasury.address);
    });

    it("advertises ERC-165 support for AccessControl", async () => {
      const { token } = await deployProtocol();
      expect(await token.supportsInterface("0x7965db0b")).to.equal(true); // IAccessControl
      expect(await token.supportsInterface("0xffffffff")).to.equal(false);
    });
  });

  describe("upgrades", () => {
    it("rejects an upgrade from anyone but the upgrader", async () => {
      const { token, outsider, guardian } = await tokenFixture();
      const v2 = await (await ethers.getContractFactory("FTNSTokenV2Mock")).deploy();
      for (const caller of [outsider, guardian]) {
        await expect(token.connect(caller).upgradeToAndCall(await v2.getAddress(), "0x"))
          .to.be.revertedWithCustomError(token, "AccessControlUnauthorizedAccount")
          .withArgs(caller.address, UPGRADER_ROLE);
      }
    });

    it("rejects upgradeToAndCall sent to the implementation instead of the proxy", async () => {
      const { token, treasury } = await tokenFixture();
      const implementation = await ethers.getContractAt(
        "FTNSToken",
        await upgrades.erc1967.getImplementationAddress(await token.getAddress()),
      );
      await expect(
        implementation.connect(treasury).upgradeToAndCall(await implementation.getAddress(), "0x"),
      ).to.be.revertedWithCustomError(token, "UUPSUnauthorizedCallContext");
    });
  });
});
