import { expect } from "chai";
import { deployments, ethers } from "hardhat";
import { time } from "@nomicfoundation/hardhat-network-helpers";
import { assertDayOneLive, assertTimelockQueueEmpty, auditRoles, pendingTimelockOperations, roleHolders } from "../../helpers/roles";
import { deployAllButHandover, deployBeforeHandover, deployProtocol, ftns, impersonate } from "../support/fixtures";
import hre from "hardhat";

const PROPOSER_ROLE = ethers.id("PROPOSER_ROLE");
const EXECUTOR_ROLE = ethers.id("EXECUTOR_ROLE");
const CANCELLER_ROLE = ethers.id("CANCELLER_ROLE");
const MINTER_ROLE = ethers.id("MINTER_ROLE");
const GUARDIAN_ROLE = ethers.id("GUARDIAN_ROLE");

describe("Deployment", () => {
  it("leaves every role of every contract with exactly the expected holders", async () => {
    await deployProtocol();
    expect(await auditRoles(hre)).to.deep.equal([]);
  });

  it("takes every temporary role back from the deployer", async () => {
    const { timelock, deployer } = await deployProtocol();
    for (const role of [ethers.ZeroHash, PROPOSER_ROLE, CANCELLER_ROLE]) {
      expect(await timelock.hasRole(role, deployer.address)).to.equal(false);
    }
  });

  it("flags an externally owned account that is given a privileged role", async () => {
    const { token, timelock, users } = await deployProtocol();
    const treasury = await impersonate(await timelock.getAddress());
    await token.connect(treasury).grantRole(MINTER_ROLE, users[3].address);
    expect(await auditRoles(hre)).to.deep.equal([
      { deployment: "FTNSToken", role: "MINTER_ROLE", holder: users[3].address.toLowerCase(), reason: "unexpected externally owned account" },
    ]);
  });

  it("flags the deployer's temporary roles before the handover runs", async () => {
    const { deployer } = await deployBeforeHandover();
    const violations = await auditRoles(hre);
    expect(violations.map((v) => `${v.deployment}.${v.role}:${v.holder}`)).to.include.members([
      `ProtocolTimelock.DEFAULT_ADMIN_ROLE:${deployer.address.toLowerCase()}`,
      `ProtocolTimelock.PROPOSER_ROLE:${deployer.address.toLowerCase()}`,
    ]);
  });

  it("flags an unexpected guardian and an unexpected canceller", async () => {
    const { token, timelock, users } = await deployProtocol();
    const treasury = await impersonate(await timelock.getAddress());
    await token.connect(treasury).grantRole(GUARDIAN_ROLE, users[4].address);
    await timelock.connect(treasury).grantRole(CANCELLER_ROLE, users[5].address);
    const violations = (await auditRoles(hre)).map((v) => `${v.deployment}.${v.role}:${v.holder}`);
    expect(violations).to.have.members([
      `FTNSToken.GUARDIAN_ROLE:${users[4].address.toLowerCase()}`,
      `ProtocolTimelock.CANCELLER_ROLE:${users[5].address.toLowerCase()}`,
    ]);
  });

  it("cancels an operation the deployer scheduled before handing over: it can never run", async () => {
    const { token, timelock, deployer } = await deployAllButHandover();
    // The deployer, still a temporary proposer, queues a grant of the minter role to itself.
    const data = token.interface.encodeFunctionData("grantRole", [MINTER_ROLE, deployer.address]);
    const args = [await token.getAddress(), 0n, data, ethers.ZeroHash, ethers.id("a backdoor")] as const;
    await timelock.connect(deployer).schedule(...args, 7 * 24 * 3600);
    expect(await pendingTimelockOperations(hre)).to.have.length(1);
    await deployments.run(["Handover"], { resetMemory: false, writeDeploymentsToFiles: false });
    expect(await pendingTimelockOperations(hre)).to.deep.equal([]);
    await time.increase(8 * 24 * 3600);
    await expect(timelock.execute(...args)).to.be.revertedWithCustomError(timelock, "TimelockUnexpectedOperationState");
    expect(await token.hasRole(MINTER_ROLE, deployer.address)).to.equal(false);
  });

  it("fails the handover audit while any timelock operation is pending", async () => {
    const { token, timelock, governor } = await deployProtocol();
    await assertTimelockQueueEmpty(hre);
    const proposer = await impersonate(await governor.getAddress());
    const data = token.interface.encodeFunctionData("grantRole", [MINTER_ROLE, await governor.getAddress()]);
    await timelock.connect(proposer).schedule(await token.getAddress(), 0n, data, ethers.ZeroHash, ethers.id("pending"), 60);
    expect((await assertTimelockQueueEmpty(hre).catch((e: Error) => e))?.message).to.match(/pending operations/);
  });

  it("proves day-one liveness, and fails when the market or the committee cannot work", async () => {
    const { marketplace } = await deployProtocol();
    const live = await assertDayOneLive(hre);
    expect(live.committee).to.equal(4);
    expect(live.listings).to.be.greaterThan(0);
    const provider = await ethers.getSigner((await marketplace.getListing(1)).provider);
    await marketplace.connect(provider).setListingActive(1, false);
    expect((await assertDayOneLive(hre).catch((e: Error) => e) as Error).message).to.match(/listing 1 is not rentable/);
  });

  it("rebuilds role holders from the grant and revoke history", async () => {
    const { timelock, deployer } = await deployBeforeHandover();
    const address = await timelock.getAddress();
    expect(await roleHolders(hre, address, PROPOSER_ROLE, 0)).to.deep.equal([deployer.address]);
    await timelock.renounceRole(PROPOSER_ROLE, deployer.address);
    expect(await roleHolders(hre, address, PROPOSER_ROLE, 0)).to.deep.equal([]);
  });

  it("opens timelock execution to anyone and uses the local network's short delay", async () => {
    const { timelock } = await deployProtocol();
    expect(await timelock.hasRole(EXECUTOR_ROLE, ethers.ZeroAddress)).to.equal(true);
    expect(await timelock.getMinDelay()).to.equal(60n);
  });

  it("saves the token at its proxy address with the implementation recorded", async () => {
    const { token } = await deployProtocol();
    const saved = await deployments.get("FTNSToken");
    expect(saved.address).to.equal(await token.getAddress());
    expect(saved.implementation).to.equal((await deployments.get("FTNSToken_Implementation")).address);
  });

  it("re-running the deploy scripts changes nothing on an existing deployment", async () => {
    const { token } = await deployProtocol();
    const before = await deployments.get("FTNSToken");
    await deployments.run(["FTNSToken"], { resetMemory: false, writeDeploymentsToFiles: false });
    const after = await deployments.get("FTNSToken");
    expect(after.address).to.equal(before.address);
    expect(await token.totalSupply()).to.equal(ftns(100_000_000));
  });
});

describe("Upgrades through the timelock", () => {
  async function scheduleUpgrade() {
    const protocol = await deployBeforeHandover();
    const { token, timelock, deployer, users } = protocol;
    const [alice, bob] = users;
    const treasury = await impersonate(await timelock.getAddress());
    await token.connect(treasury).transfer(alice.address, ftns(1_000));
    await token.connect(alice).delegate(bob.address);
    const v2 = await (await ethers.getContractFactory("FTNSTokenV2Mock")).deploy();
    const init = v2.interface.encodeFunctionData("initializeV2", ["models for everyone"]);
    const data = token.interface.encodeFunctionData("upgradeToAndCall", [await v2.getAddress(), init]);
    const args = [await token.getAddress(), 0n, data, ethers.ZeroHash, ethers.id("upgrade-to-v2")] as const;
    await timelock.connect(deployer).schedule(...args, await timelock.getMinDelay());
    return { ...protocol, alice, bob, args, v2 };
  }

  it("upgrades the token to a V2 implementation, keeping balances, delegations and votes", async () => {
    const { token, timelock, alice, bob, args, v2, users } = await scheduleUpgrade();
    const votesBefore = await token.getVotes(bob.address);
    const supplyBefore = await token.totalSupply();
    await time.increase(60);
    await timelock.connect(users[5]).execute(...args); // anyone may execute a ready operation

    const upgraded = await ethers.getContractAt("FTNSTokenV2Mock", await token.getAddress());
    expect(await upgraded.version()).to.equal(2n);
    expect(await upgraded.motto()).to.equal("models for everyone");
    await expect(upgraded.initializeV2("again")).to.be.revertedWithCustomError(upgraded, "InvalidInitialization");
    expect(await hre.upgrades.erc1967.getImplementationAddress(await token.getAddress())).to.equal(
      await v2.getAddress(),
    );
    expect(await upgraded.balanceOf(alice.address)).to.equal(ftns(1_000));
    expect(await upgraded.delegates(alice.address)).to.equal(bob.address);
    expect(await upgraded.getVotes(bob.address)).to.equal(votesBefore);
    expect(await upgraded.totalSupply()).to.equal(supplyBefore);
    await upgraded.connect(alice).transfer(bob.address, ftns(1));
    expect(await upgraded.getVotes(bob.address)).to.equal(votesBefore - ftns(1));
  });

  it("refuses to execute the upgrade before the delay has passed", async () => {
    const { timelock, args } = await scheduleUpgrade();
    await expect(timelock.execute(...args)).to.be.revertedWithCustomError(
      timelock,
      "TimelockUnexpectedOperationState",
    );
  });

  it("refuses a schedule from anyone but a proposer", async () => {
    const { timelock, args, users } = await scheduleUpgrade();
    await expect(timelock.connect(users[4]).schedule(...args, 60n))
      .to.be.revertedWithCustomError(timelock, "AccessControlUnauthorizedAccount")
      .withArgs(users[4].address, PROPOSER_ROLE);
  });
});

describe("Storage layout validation", () => {
  it("accepts the FTNS implementation as upgrade-safe (UUPS)", async () => {
    await hre.upgrades.validateImplementation(await ethers.getContractFactory("FTNSToken"), { kind: "uups" });
  });

  it("accepts FTNSTokenV2Mock as a layout-compatible upgrade of FTNSToken", async () => {
    await hre.upgrades.validateUpgrade(
      await ethers.getContractFactory("FTNSToken"),
      await ethers.getContractFactory("FTNSTokenV2Mock"),
      { kind: "uups" },
    );
  });

  it("rejects an implementation whose state would be invisible behind a proxy", async () => {
    const unsafe = await ethers.getContractFactory("FTNSTokenUnsafeMock");
    const error = await hre.upgrades.validateImplementation(unsafe, { kind: "uups" }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error?.message).to.match(/initial value/);
  });
});
