import { expect } from "chai";
import { deployments, ethers, upgrades } from "hardhat";
import { time } from "@nomicfoundation/hardhat-network-helpers";
import { anyValue } from "@nomicfoundation/hardhat-chai-matchers/withArgs";
import { deployBeforeHandover, deployProtocol, ftns, impersonate } from "../support/fixtures";
import {
  asIGovernor,
  execute,
  interfaceId,
  passProposal,
  propose,
  ProposalState,
  queue,
  toVotingEnd,
  toVotingStart,
  VoteType,
} from "../support/governance";

const UNIT = 10n ** 9n; // one quadratic unit: sqrt(1 FTNS in raw units)
const MINTER_ROLE = ethers.id("MINTER_ROLE");
const TIMELOCK_DELAY = 60;
/** IGovernorParticipants: an attestor's registration takes effect 14 days later; 50 changes per 7 days. */
const REGISTRATION_DELAY = 14n * 24n * 3600n;
const ATTESTOR_PERIOD = 7n * 24n * 3600n;
const COUNCIL_CHANGE_DELAY = 2 * TIMELOCK_DELAY;
const CANCELLER_ROLE = ethers.id("CANCELLER_ROLE");

/**
 * Deployed protocol (local profile: delay 10 s, period 300 s, quorum 100 units, extension 60 s, threshold 1,000
 * FTNS). users[0..8] are bootstrap participants, users[9..17] are not, users[18] is the safety council.
 */
const governanceFixture = deployments.createFixture(async () => {
  const protocol = await deployProtocol();
  const { token, timelock, users } = protocol;
  const [alice, bob, carol, dave] = users;
  const [mallory, sybil1, sybil2, sybil3, sybil4] = users.slice(9);
  const council = users[18];
  const treasury = await impersonate(await timelock.getAddress());
  const grants: [typeof alice, number][] = [
    [alice, 10_000],
    [bob, 100],
    [carol, 2_500],
    [dave, 2_500],
    [mallory, 10_000],
  ];
  for (const [holder, amount] of grants) {
    await token.connect(treasury).transfer(holder.address, ftns(amount));
    await token.connect(holder).delegate(holder.address);
  }
  await time.increase(1);
  return { ...protocol, treasury, alice, bob, carol, dave, mallory, sybils: [sybil1, sybil2, sybil3, sybil4], council };
});

/** The fixture plus an attestor appointed by a real proposal. */
async function withAttestor() {
  const fixture = await governanceFixture();
  const { governor, alice, users } = fixture;
  const attestor = users[16];
  await passProposal(
    governor,
    [alice],
    [{ target: await governor.getAddress(), data: governor.interface.encodeFunctionData("setAttestor", [attestor.address, true]) }],
    "Appoint a proof-of-personhood attestor",
    TIMELOCK_DELAY,
  );
  return { ...fixture, attestor };
}

describe("FTNSGovernor", () => {
  describe("IGovernor compatibility", () => {
    it("answers ERC-165 for IGovernor and ERC-6372", async () => {
      const { governor } = await governanceFixture();
      const IGovernor = await interfaceId("@openzeppelin/contracts/governance/IGovernor.sol:IGovernor", [
        "@openzeppelin/contracts/utils/introspection/IERC165.sol:IERC165",
        "@openzeppelin/contracts/interfaces/IERC6372.sol:IERC6372",
      ]);
      expect(await governor.supportsInterface(IGovernor)).to.equal(true);
      expect(await governor.supportsInterface(await interfaceId("@openzeppelin/contracts/interfaces/IERC6372.sol:IERC6372"))).to.equal(true);
      expect(await governor.supportsInterface("0xffffffff")).to.equal(false);
    });

    it("describes its clock and its quadratic counting honestly", async () => {
      const { governor } = await governanceFixture();
      expect(await governor.CLOCK_MODE()).to.equal("mode=timestamp");
      expect(await governor.clock()).to.equal(BigInt(await time.latest()));
      expect(await governor.COUNTING_MODE()).to.equal("support=bravo&quorum=for,abstain&weight=sqrt&voters=registered");
      expect(await governor.name()).to.equal("PRSM Governor");
    });

    it("starts with the configured settings", async () => {
      const { governor, timelock } = await governanceFixture();
      expect(await governor.votingDelay()).to.equal(10n);
      expect(await governor.votingPeriod()).to.equal(300n);
      expect(await governor.proposalThreshold()).to.equal(ftns(1_000));
      expect(await governor.quorum((await time.latest()) - 1)).to.equal(100n * UNIT);
      expect(await governor.lateQuorumVoteExtension()).to.equal(60n);
      expect(await governor.timelock()).to.equal(await timelock.getAddress());
    });

    it("runs a whole lifecycle through the IGovernor ABI alone: a token role change becomes visible", async () => {
      const { governor, token, alice, bob, users } = await governanceFixture();
      const emission = users[7].address;
      const client = await asIGovernor(await governor.getAddress(), alice);
      const proposal = await propose(
        governor,
        alice,
        [{ target: await token.getAddress(), data: token.interface.encodeFunctionData("grantRole", [MINTER_ROLE, emission]) }],
        "Grant the emission schedule the minter role",
      );
      expect(await client.state(proposal.id)).to.equal(ProposalState.Pending);
      await toVotingStart(governor, proposal);
      expect(await client.state(proposal.id)).to.equal(ProposalState.Active);
      await expect(client.castVote(proposal.id, VoteType.For))
        .to.emit(governor, "VoteCast")
        .withArgs(alice.address, proposal.id, VoteType.For, 100n * UNIT, "");
      await (await asIGovernor(await governor.getAddress(), bob)).castVote(proposal.id, VoteType.Against);
      await toVotingEnd(governor, proposal);
      expect(await client.state(proposal.id)).to.equal(ProposalState.Succeeded);
      await queue(governor, proposal, alice);
      expect(await client.state(proposal.id)).to.equal(ProposalState.Queued);
      await expect(execute(governor, proposal, alice)).to.be.revertedWithCustomError(
        await ethers.getContractAt("ProtocolTimelock", await governor.timelock()),
        "TimelockUnexpectedOperationState",
      );
      await time.increase(TIMELOCK_DELAY + 1);
      expect(await token.hasRole(MINTER_ROLE, emission)).to.equal(false);
      await execute(governor, proposal, bob);
      expect(await client.state(proposal.id)).to.equal(ProposalState.Executed);
      expect(await token.hasRole(MINTER_ROLE, emission)).to.equal(true);
    });

    it("changes the marketplace protocol fee by proposal: delegate, propose, vote, queue, wait, execute", async () => {
      const { governor, marketplace, alice } = await governanceFixture();
      expect(await marketplace.protocolFeeBps()).to.equal(250n);
      await passProposal(
        governor,
        [alice],
        [{ target: await marketplace.getAddress(), data: marketplace.interface.encodeFunctionData("setProtocolFee", [400]) }],
        "Raise the protocol fee to 4%",
        TIMELOCK_DELAY,
      );
      expect(await marketplace.protocolFeeBps()).to.equal(400n);
    });

    it("upgrades itself through a proposal, keeping its settings and participants", async () => {
      const { governor, alice, users } = await governanceFixture();
      const v2 = await (await ethers.getContractFactory("FTNSGovernorV2Mock")).deploy();
      await passProposal(
        governor,
        [alice],
        [{ target: await governor.getAddress(), data: governor.interface.encodeFunctionData("upgradeToAndCall", [await v2.getAddress(), "0x"]) }],
        "Upgrade the governor",
        TIMELOCK_DELAY,
      );
      const upgraded = await ethers.getContractAt("FTNSGovernorV2Mock", await governor.getAddress());
      expect(await upgraded.implementationVersion()).to.equal(2n);
      expect(await upgraded.votingPeriod()).to.equal(300n);
      expect(await upgraded.isParticipant(users[3].address)).to.equal(true);
      expect(await upgraded.participantCount()).to.equal(10n);
    });
  });

  describe("storage layout", () => {
    it("stays upgrade-safe (UUPS) with the registry's appended storage", async () => {
      await upgrades.validateImplementation(await ethers.getContractFactory("FTNSGovernor"), { kind: "uups" });
      await upgrades.validateUpgrade(
        await ethers.getContractFactory("FTNSGovernor"),
        await ethers.getContractFactory("FTNSGovernorV2Mock"),
        { kind: "uups" },
      );
    });
  });

  describe("quadratic counting", () => {
    it("weighs votes by the integer square root, with 18-decimal FTNS giving 9-decimal units", async () => {
      const { governor } = await governanceFixture();
      expect(await governor.quadraticWeight(ftns(100))).to.equal(10n * UNIT);
      expect(await governor.quadraticWeight(ftns(10_000))).to.equal(100n * UNIT);
      expect(await governor.quadraticWeight(ftns(1))).to.equal(UNIT);
      expect(await governor.quadraticWeight(ftns(2))).to.equal(1_414_213_562n); // floor(sqrt(2e18))
      expect(await governor.quadraticWeight(0n)).to.equal(0n);
      expect(await governor.quadraticWeight(3n)).to.equal(1n);
    });

    it("reports a participant's quadratic votes and zero for anyone unregistered", async () => {
      const { governor, alice, mallory } = await governanceFixture();
      const t = (await time.latest()) - 1;
      expect(await governor.getVotes(alice.address, t)).to.equal(ftns(10_000)); // linear voting power
      expect(await governor.getQuadraticVotes(alice.address, t)).to.equal(100n * UNIT);
      expect(await governor.getVotes(mallory.address, t)).to.equal(ftns(10_000));
      expect(await governor.getQuadraticVotes(mallory.address, t)).to.equal(0n);
    });

    it("tallies each option in quadratic units", async () => {
      const { governor, alice, bob, carol, token } = await governanceFixture();
      const proposal = await propose(governor, alice, [{ target: await token.getAddress(), data: "0x" }], "Tally");
      await toVotingStart(governor, proposal);
      await governor.connect(alice).castVote(proposal.id, VoteType.For);
      await governor.connect(bob).castVote(proposal.id, VoteType.Against);
      await governor.connect(carol).castVote(proposal.id, VoteType.Abstain);
      expect(await governor.proposalVotes(proposal.id)).to.deep.equal([10n * UNIT, 100n * UNIT, 50n * UNIT]);
    });

    it("measures the quorum in quadratic units: 10 units For do not reach a 100-unit quorum", async () => {
      const { governor, alice, bob, token } = await governanceFixture();
      const proposal = await propose(governor, alice, [{ target: await token.getAddress(), data: "0x" }], "Small turnout");
      await toVotingStart(governor, proposal);
      await governor.connect(bob).castVote(proposal.id, VoteType.For); // 100 FTNS -> 10 units
      await toVotingEnd(governor, proposal);
      expect(await governor.state(proposal.id)).to.equal(ProposalState.Defeated);
    });

    it("counts Abstain toward the quorum but not toward success", async () => {
      const { governor, alice, bob, token } = await governanceFixture();
      const proposal = await propose(governor, alice, [{ target: await token.getAddress(), data: "0x" }], "Abstain");
      await toVotingStart(governor, proposal);
      await governor.connect(alice).castVote(proposal.id, VoteType.Abstain); // 100 units: quorum
      await governor.connect(bob).castVote(proposal.id, VoteType.For); // 10 units > 0 against
      await toVotingEnd(governor, proposal);
      expect(await governor.state(proposal.id)).to.equal(ProposalState.Succeeded);
    });

    it("shows why registration matters: one holder split across registered wallets outweighs itself", async () => {
      const { governor, carol, dave, alice, token } = await governanceFixture();
      // carol + dave hold 2,500 each: 50 + 50 = 100 units, as much as alice's 10,000 FTNS alone.
      const proposal = await propose(governor, alice, [{ target: await token.getAddress(), data: "0x" }], "Split");
      await toVotingStart(governor, proposal);
      await governor.connect(carol).castVote(proposal.id, VoteType.For);
      await governor.connect(dave).castVote(proposal.id, VoteType.For);
      await governor.connect(alice).castVote(proposal.id, VoteType.Against);
      expect(await governor.proposalVotes(proposal.id)).to.deep.equal([100n * UNIT, 100n * UNIT, 0n]);
    });
  });

  describe("who may vote", () => {
    it("rejects a vote by an account that is not a registered participant", async () => {
      const { governor, alice, mallory, token } = await governanceFixture();
      const proposal = await propose(governor, alice, [{ target: await token.getAddress(), data: "0x" }], "Sybil");
      await toVotingStart(governor, proposal);
      await expect(governor.connect(mallory).castVote(proposal.id, VoteType.For))
        .to.be.revertedWithCustomError(governor, "GovernorUnregisteredVoter")
        .withArgs(mallory.address, await governor.proposalRegistrationTimepoint(proposal.id));
    });

    it("gives nothing to tokens split into fresh, unregistered wallets", async () => {
      const { governor, token, mallory, sybils, alice } = await governanceFixture();
      for (const sybil of sybils) {
        await token.connect(mallory).transfer(sybil.address, ftns(2_500));
        await token.connect(sybil).delegate(sybil.address);
      }
      const proposal = await propose(governor, alice, [{ target: await token.getAddress(), data: "0x" }], "Split wallets");
      await toVotingStart(governor, proposal);
      for (const sybil of sybils) {
        await expect(governor.connect(sybil).castVote(proposal.id, VoteType.For)).to.be.revertedWithCustomError(
          governor,
          "GovernorUnregisteredVoter",
        );
      }
    });

    it("rejects an account registered after the proposal was created", async () => {
      const { governor, alice, mallory, token, attestor } = await withAttestor();
      const proposal = await propose(governor, alice, [{ target: await token.getAddress(), data: "0x" }], "Late registration");
      await governor.connect(attestor).registerParticipant(mallory.address);
      await toVotingStart(governor, proposal);
      await expect(governor.connect(mallory).castVote(proposal.id, VoteType.For))
        .to.be.revertedWithCustomError(governor, "GovernorUnregisteredVoter")
        .withArgs(mallory.address, await governor.proposalRegistrationTimepoint(proposal.id));
    });

    it("counts votes at the snapshot: tokens moved afterwards give the receiver nothing extra", async () => {
      const { governor, token, alice, bob } = await governanceFixture();
      const proposal = await propose(governor, alice, [{ target: await token.getAddress(), data: "0x" }], "Snapshot");
      await toVotingStart(governor, proposal);
      await governor.connect(alice).castVote(proposal.id, VoteType.For);
      await token.connect(alice).transfer(bob.address, ftns(9_900)); // bob now holds 10,000 FTNS
      await expect(governor.connect(bob).castVote(proposal.id, VoteType.For))
        .to.emit(governor, "VoteCast")
        .withArgs(bob.address, proposal.id, VoteType.For, 10n * UNIT, ""); // still sqrt(100 FTNS)
      expect(await governor.proposalVotes(proposal.id)).to.deep.equal([0n, 110n * UNIT, 0n]);
    });

    it("rejects a second vote by the same voter", async () => {
      const { governor, alice, token } = await governanceFixture();
      const proposal = await propose(governor, alice, [{ target: await token.getAddress(), data: "0x" }], "Twice");
      await toVotingStart(governor, proposal);
      await governor.connect(alice).castVote(proposal.id, VoteType.For);
      await expect(governor.connect(alice).castVote(proposal.id, VoteType.Against))
        .to.be.revertedWithCustomError(governor, "GovernorAlreadyCastVote")
        .withArgs(alice.address);
    });

    it("rejects an unknown support value", async () => {
      const { governor, alice, token } = await governanceFixture();
      const proposal = await propose(governor, alice, [{ target: await token.getAddress(), data: "0x" }], "Bad support");
      await toVotingStart(governor, proposal);
      await expect(governor.connect(alice).castVote(proposal.id, 3)).to.be.revertedWithCustomError(
        governor,
        "GovernorInvalidVoteType",
      );
    });

    it("accepts a vote with a reason and a gasless vote by signature", async () => {
      const { governor, alice, bob, users, token } = await governanceFixture();
      const proposal = await propose(governor, alice, [{ target: await token.getAddress(), data: "0x" }], "Reasons");
      await toVotingStart(governor, proposal);
      await expect(governor.connect(alice).castVoteWithReason(proposal.id, VoteType.For, "cheaper models"))
        .to.emit(governor, "VoteCast")
        .withArgs(alice.address, proposal.id, VoteType.For, 100n * UNIT, "cheaper models");

      const { name, version, chainId, verifyingContract } = await governor.eip712Domain();
      const signature = await bob.signTypedData(
        { name, version, chainId, verifyingContract },
        {
          Ballot: [
            { name: "proposalId", type: "uint256" },
            { name: "support", type: "uint8" },
            { name: "voter", type: "address" },
            { name: "nonce", type: "uint256" },
          ],
        },
        { proposalId: proposal.id, support: VoteType.Against, voter: bob.address, nonce: await governor.nonces(bob.address) },
      );
      const relayer = users[15]; // pays the gas; holds no votes and is not registered
      await expect(governor.connect(relayer).castVoteBySig(proposal.id, VoteType.Against, bob.address, signature))
        .to.emit(governor, "VoteCast")
        .withArgs(bob.address, proposal.id, VoteType.Against, 10n * UNIT, "");
      await expect(
        governor.connect(relayer).castVoteBySig(proposal.id, VoteType.Against, bob.address, signature),
      ).to.be.revertedWithCustomError(governor, "GovernorInvalidSignature");
    });

    it("rejects a proposal from an account below the threshold", async () => {
      const { governor, bob, token } = await governanceFixture();
      await expect(
        governor.connect(bob).propose([await token.getAddress()], [0n], ["0x"], "Too small"),
      )
        .to.be.revertedWithCustomError(governor, "GovernorInsufficientProposerVotes")
        .withArgs(bob.address, ftns(100), ftns(1_000));
    });
  });

  describe("late quorum protection", () => {
    it("extends the deadline when the quorum is reached in the last moments", async () => {
      const { governor, alice, token } = await governanceFixture();
      const proposal = await propose(governor, alice, [{ target: await token.getAddress(), data: "0x" }], "Late");
      const deadline = await governor.proposalDeadline(proposal.id);
      await time.increaseTo(Number(deadline) - 5);
      const tx = governor.connect(alice).castVote(proposal.id, VoteType.For);
      await expect(tx).to.emit(governor, "ProposalExtended").withArgs(proposal.id, anyValue);
      const extended = await governor.proposalDeadline(proposal.id);
      expect(extended).to.equal(BigInt(await time.latest()) + 60n);
      await time.increaseTo(Number(deadline) + 1);
      expect(await governor.state(proposal.id)).to.equal(ProposalState.Active);
    });
  });

  describe("safety council", () => {
    async function queuedProposal() {
      const fixture = await governanceFixture();
      const { governor, token, alice, users } = fixture;
      const proposal = await propose(
        governor,
        alice,
        [{ target: await token.getAddress(), data: token.interface.encodeFunctionData("grantRole", [MINTER_ROLE, users[8].address]) }],
        "Grant a minter",
      );
      await toVotingStart(governor, proposal);
      await governor.connect(alice).castVote(proposal.id, VoteType.For);
      await toVotingEnd(governor, proposal);
      await queue(governor, proposal, alice);
      // The governor's queue is the latest operation scheduled on the timelock.
      const scheduled = (await fixture.timelock.queryFilter(fixture.timelock.filters.CallScheduled())).at(-1)!;
      return { ...fixture, proposal, operationId: scheduled.args.id };
    }

    it("cancels a queued proposal, which can then never execute", async () => {
      const { governor, timelock, council, proposal, alice, token, users, operationId } = await queuedProposal();
      await expect(timelock.connect(council).cancel(operationId)).to.emit(timelock, "Cancelled").withArgs(operationId);
      expect(await governor.state(proposal.id)).to.equal(ProposalState.Canceled);
      await time.increase(TIMELOCK_DELAY + 1);
      await expect(execute(governor, proposal, alice)).to.be.revertedWithCustomError(governor, "GovernorUnexpectedProposalState");
      expect(await token.hasRole(MINTER_ROLE, users[8].address)).to.equal(false);
    });

    it("cannot propose or schedule anything", async () => {
      const { governor, timelock, council, token } = await governanceFixture();
      await expect(governor.connect(council).propose([await token.getAddress()], [0n], ["0x"], "Council"))
        .to.be.revertedWithCustomError(governor, "GovernorInsufficientProposerVotes");
      await expect(timelock.connect(council).schedule(await token.getAddress(), 0n, "0x", ethers.ZeroHash, ethers.ZeroHash, 60n))
        .to.be.revertedWithCustomError(timelock, "AccessControlUnauthorizedAccount")
        .withArgs(council.address, ethers.id("PROPOSER_ROLE"));
    });
  });

  describe("settings belong to governance", () => {
    it("rejects every setter called by anyone but the timelock", async () => {
      const { governor, alice, deployer, council } = await governanceFixture();
      const calls = [
        governor.interface.encodeFunctionData("setVotingDelay", [1]),
        governor.interface.encodeFunctionData("setVotingPeriod", [1]),
        governor.interface.encodeFunctionData("setProposalThreshold", [0]),
        governor.interface.encodeFunctionData("setQuorum", [0]),
        governor.interface.encodeFunctionData("setLateQuorumVoteExtension", [0]),
        governor.interface.encodeFunctionData("setAttestor", [alice.address, true]),
        governor.interface.encodeFunctionData("updateTimelock", [alice.address]),
        governor.interface.encodeFunctionData("upgradeToAndCall", [alice.address, "0x"]),
      ];
      for (const caller of [alice, deployer, council]) {
        for (const data of calls) {
          await expect(caller.sendTransaction({ to: await governor.getAddress(), data }))
            .to.be.revertedWithCustomError(governor, "GovernorOnlyExecutor")
            .withArgs(caller.address);
        }
      }
    });

    it("rejects a setter the timelock calls outside an executed proposal", async () => {
      const { governor, timelock } = await governanceFixture();
      const asTimelock = await impersonate(await timelock.getAddress());
      await expect(governor.connect(asTimelock).setQuorum(0)).to.be.reverted;
    });

    it("changes the quorum by proposal without affecting proposals already running", async () => {
      const { governor, alice, bob, token } = await governanceFixture();
      const running = await propose(governor, alice, [{ target: await token.getAddress(), data: "0x" }], "Running");
      await passProposal(
        governor,
        [alice],
        [{ target: await governor.getAddress(), data: governor.interface.encodeFunctionData("setQuorum", [5n * UNIT]) }],
        "Lower the quorum to 5 units",
        TIMELOCK_DELAY,
      );
      expect(await governor.quorum(await time.latest())).to.equal(5n * UNIT);
      expect(await governor.quorum(await governor.proposalSnapshot(running.id))).to.equal(100n * UNIT);
      const next = await propose(governor, alice, [{ target: await token.getAddress(), data: "0x" }], "Small one");
      await toVotingStart(governor, next);
      await governor.connect(bob).castVote(next.id, VoteType.For); // 10 units >= 5
      await toVotingEnd(governor, next);
      expect(await governor.state(next.id)).to.equal(ProposalState.Succeeded);
    });
  });

  describe("participant registry", () => {
    it("registers the bootstrap participants at deployment", async () => {
      const { governor, users, deployer } = await governanceFixture();
      expect(await governor.participantCount()).to.equal(10n);
      for (const user of users.slice(0, 9)) expect(await governor.isParticipant(user.address)).to.equal(true);
      expect(await governor.isParticipant(deployer.address)).to.equal(true);
      expect(await governor.isParticipant(users[9].address)).to.equal(false);
    });

    it("lets a governance-appointed attestor register and unregister participants", async () => {
      const { governor, attestor, mallory } = await withAttestor();
      expect(await governor.isAttestor(attestor.address)).to.equal(true);
      const tx = governor.connect(attestor).registerParticipant(mallory.address);
      const since = BigInt(await time.latest()) + 1n + REGISTRATION_DELAY;
      await expect(tx).to.emit(governor, "ParticipantRegistered").withArgs(mallory.address, attestor.address, since);
      // Registered, but not in effect before the delay: it counts, it cannot be registered twice, it cannot vote.
      expect(await governor.participantCount()).to.equal(11n);
      expect(await governor.isParticipant(mallory.address)).to.equal(false);
      await time.increaseTo(since);
      expect(await governor.isParticipant(mallory.address)).to.equal(true);
      await time.increase(10);
      await expect(governor.connect(attestor).unregisterParticipant(mallory.address))
        .to.emit(governor, "ParticipantUnregistered")
        .withArgs(mallory.address, attestor.address, anyValue);
      expect(await governor.isParticipant(mallory.address)).to.equal(false);
      expect(await governor.isParticipantAt(mallory.address, since)).to.equal(true);
      expect(await governor.isParticipantAt(mallory.address, since - 1n)).to.equal(false);
      expect(await governor.isParticipantAt(mallory.address, await time.latest())).to.equal(false);
      expect(await governor.participantCount()).to.equal(10n);
    });

    it("lets a registered-later participant vote on proposals created once its registration took effect", async () => {
      const { governor, attestor, mallory, alice, token } = await withAttestor();
      await governor.connect(attestor).registerParticipant(mallory.address);
      await time.increase(REGISTRATION_DELAY);
      const proposal = await propose(governor, alice, [{ target: await token.getAddress(), data: "0x" }], "After");
      await toVotingStart(governor, proposal);
      await expect(governor.connect(mallory).castVote(proposal.id, VoteType.For))
        .to.emit(governor, "VoteCast")
        .withArgs(mallory.address, proposal.id, VoteType.For, 100n * UNIT, "");
    });

    it("rejects registration by anyone but an attestor or governance", async () => {
      const { governor, alice, mallory } = await governanceFixture();
      await expect(governor.connect(alice).registerParticipant(mallory.address))
        .to.be.revertedWithCustomError(governor, "GovernorUnauthorizedRegistrar")
        .withArgs(alice.address);
      await expect(governor.connect(alice).unregisterParticipant(alice.address))
        .to.be.revertedWithCustomError(governor, "GovernorUnauthorizedRegistrar")
        .withArgs(alice.address);
    });

    it("rejects double registration, unregistering a stranger, and the zero address", async () => {
      const { governor, attestor, alice, mallory } = await withAttestor();
      await expect(governor.connect(attestor).registerParticipant(alice.address))
        .to.be.revertedWithCustomError(governor, "GovernorParticipantAlreadyRegistered")
        .withArgs(alice.address);
      await expect(governor.connect(attestor).unregisterParticipant(mallory.address))
        .to.be.revertedWithCustomError(governor, "GovernorParticipantNotRegistered")
        .withArgs(mallory.address);
      await expect(governor.connect(attestor).registerParticipant(ethers.ZeroAddress))
        .to.be.revertedWithCustomError(governor, "GovernorInvalidParticipant")
        .withArgs(ethers.ZeroAddress);
    });

    it("lets governance remove an attestor", async () => {
      const { governor, attestor, alice, mallory } = await withAttestor();
      await passProposal(
        governor,
        [alice],
        [{ target: await governor.getAddress(), data: governor.interface.encodeFunctionData("setAttestor", [attestor.address, false]) }],
        "Remove the attestor",
        TIMELOCK_DELAY,
      );
      await expect(governor.connect(attestor).registerParticipant(mallory.address)).to.be.revertedWithCustomError(
        governor,
        "GovernorUnauthorizedRegistrar",
      );
    });

    it("refuses a vote from an account that governance registered during the proposal's voting delay", async () => {
      const { governor, alice, mallory, token } = await governanceFixture();
      const registration = await propose(
        governor,
        alice,
        [{ target: await governor.getAddress(), data: governor.interface.encodeFunctionData("registerParticipant", [mallory.address]) }],
        "Register mallory",
      );
      await toVotingStart(governor, registration);
      await governor.connect(alice).castVote(registration.id, VoteType.For);
      await toVotingEnd(governor, registration);
      await queue(governor, registration, alice);
      await time.increase(TIMELOCK_DELAY + 1);
      const proposal = await propose(governor, alice, [{ target: await token.getAddress(), data: "0x" }], "Created first");
      await execute(governor, registration, alice); // governance registrations take effect at once...
      expect(BigInt(await time.latest())).to.be.lessThan(await governor.proposalSnapshot(proposal.id));
      expect(await governor.isParticipant(mallory.address)).to.equal(true);
      await toVotingStart(governor, proposal);
      // ...but the proposal's voters were fixed when it was created, before the snapshot.
      await expect(governor.connect(mallory).castVote(proposal.id, VoteType.For)).to.be.revertedWithCustomError(
        governor,
        "GovernorUnregisteredVoter",
      );
      const timepoint = await governor.proposalRegistrationTimepoint(proposal.id);
      expect(timepoint).to.be.lessThan(await governor.proposalSnapshot(proposal.id));
      await expect(governor.connect(mallory).castVote(proposal.id, VoteType.For))
        .to.be.revertedWithCustomError(governor, "GovernorUnregisteredVoter")
        .withArgs(mallory.address, timepoint);
    });

    it("refuses a vote from an attestor's registration that has not taken effect yet", async () => {
      const { governor, attestor, alice, mallory, sybils, token } = await withAttestor();
      await governor.connect(attestor).registerParticipant(mallory.address);
      await governor.connect(attestor).registerParticipant(sybils[0].address);
      await time.increase(60);
      const proposal = await propose(governor, alice, [{ target: await token.getAddress(), data: "0x" }], "Too early");
      await toVotingStart(governor, proposal);
      await expect(governor.connect(mallory).castVote(proposal.id, VoteType.For)).to.be.revertedWithCustomError(
        governor,
        "GovernorUnregisteredVoter",
      );
      // Unregistering a pending registration cancels it: it never takes effect.
      await governor.connect(attestor).unregisterParticipant(sybils[0].address);
      await time.increase(REGISTRATION_DELAY);
      expect(await governor.isParticipant(mallory.address)).to.equal(true);
      expect(await governor.isParticipant(sybils[0].address)).to.equal(false);
      expect(await governor.isParticipantAt(sybils[0].address, await time.latest())).to.equal(false);
    });

    it("refuses to let a removal strip the vote on a proposal created while the account was registered", async () => {
      const { governor, attestor, alice, mallory, token } = await withAttestor();
      await governor.connect(attestor).registerParticipant(mallory.address);
      await time.increase(REGISTRATION_DELAY);
      const proposal = await propose(governor, alice, [{ target: await token.getAddress(), data: "0x" }], "Created before removal");
      await governor.connect(attestor).unregisterParticipant(mallory.address); // during the voting delay
      await toVotingStart(governor, proposal);
      await expect(governor.connect(mallory).castVote(proposal.id, VoteType.For))
        .to.emit(governor, "VoteCast")
        .withArgs(mallory.address, proposal.id, VoteType.For, 100n * UNIT, "");
      // Removal is prospective: a proposal created afterwards does not count it.
      const later = await propose(governor, alice, [{ target: await token.getAddress(), data: "0x" }], "Created after removal");
      await toVotingStart(governor, later);
      await expect(governor.connect(mallory).castVote(later.id, VoteType.For)).to.be.revertedWithCustomError(
        governor,
        "GovernorUnregisteredVoter",
      );
    });

    it("refuses to let an unregister and re-register strip the vote on an Active proposal", async () => {
      const { governor, attestor, alice, mallory, token } = await withAttestor();
      await governor.connect(attestor).registerParticipant(mallory.address);
      await time.increase(REGISTRATION_DELAY);
      const active = await propose(governor, alice, [{ target: await token.getAddress(), data: "0x" }], "Active");
      await toVotingStart(governor, active);
      expect(await governor.state(active.id)).to.equal(ProposalState.Active);
      await governor.connect(attestor).unregisterParticipant(mallory.address);
      const inTheGap = await propose(governor, alice, [{ target: await token.getAddress(), data: "0x" }], "In the gap");
      await governor.connect(attestor).registerParticipant(mallory.address);
      await expect(governor.connect(mallory).castVote(active.id, VoteType.For))
        .to.emit(governor, "VoteCast")
        .withArgs(mallory.address, active.id, VoteType.For, 100n * UNIT, "");
      expect(await governor.isParticipantAt(mallory.address, await governor.proposalRegistrationTimepoint(active.id))).to.equal(true);
      // The gap between the two registrations stays a gap.
      await toVotingStart(governor, inTheGap);
      await expect(governor.connect(mallory).castVote(inTheGap.id, VoteType.For)).to.be.revertedWithCustomError(
        governor,
        "GovernorUnregisteredVoter",
      );
      // And the new registration counts once in effect.
      await time.increase(REGISTRATION_DELAY);
      const next = await propose(governor, alice, [{ target: await token.getAddress(), data: "0x" }], "Next");
      await toVotingStart(governor, next);
      await governor.connect(mallory).castVote(next.id, VoteType.Against);
    });

    it("refuses an attestor's registry changes beyond 50 per seven days", async () => {
      const { governor, attestor, mallory } = await withAttestor();
      const accounts = Array.from({ length: 50 }, () => ethers.Wallet.createRandom().address);
      for (const account of accounts) await governor.connect(attestor).registerParticipant(account);
      // The 51st change, a removal as much as a registration, waits for the quota to refill.
      await expect(governor.connect(attestor).registerParticipant(mallory.address)).to.be.reverted;
      await expect(governor.connect(attestor).registerParticipant(mallory.address))
        .to.be.revertedWithCustomError(governor, "GovernorAttestorQuotaExceeded")
        .withArgs(attestor.address, anyValue);
      await expect(governor.connect(attestor).unregisterParticipant(accounts[0])).to.be.revertedWithCustomError(
        governor,
        "GovernorAttestorQuotaExceeded",
      );
      // One change per 7 days / 50 comes back.
      await time.increase(ATTESTOR_PERIOD / 50n);
      await governor.connect(attestor).registerParticipant(mallory.address);
      await expect(governor.connect(attestor).unregisterParticipant(accounts[0])).to.be.revertedWithCustomError(
        governor,
        "GovernorAttestorQuotaExceeded",
      );
      expect(await governor.participantCount()).to.equal(61n);
    });

    it("refuses an attestor's removal of a participant it did not register", async () => {
      const { governor, attestor, alice } = await withAttestor();
      await expect(governor.connect(attestor).unregisterParticipant(alice.address))
        .to.be.revertedWithCustomError(governor, "GovernorUnauthorizedRegistrar")
        .withArgs(attestor.address);
      expect(await governor.isParticipant(alice.address)).to.equal(true);
    });
  });

  describe("replacing the safety council", () => {
    /** Queues a proposal that revokes the council's canceller role and grants it to users[17] (and, when
     * `bundled`, also grants a token role: no longer a pure council change). */
    async function councilProposal(bundled = false) {
      const fixture = await governanceFixture();
      const { governor, timelock, token, alice, council, users } = fixture;
      const extra = bundled
        ? [{ target: await token.getAddress(), data: token.interface.encodeFunctionData("grantRole", [MINTER_ROLE, users[8].address]) }]
        : [];
      const newCouncil = users[17];
      const tl = await timelock.getAddress();
      const proposal = await propose(
        governor,
        alice,
        [
          { target: tl, data: timelock.interface.encodeFunctionData("revokeRole", [CANCELLER_ROLE, council.address]) },
          { target: tl, data: timelock.interface.encodeFunctionData("grantRole", [CANCELLER_ROLE, newCouncil.address]) },
          ...extra,
        ],
        "Replace the safety council",
      );
      await toVotingStart(governor, proposal);
      await governor.connect(alice).castVote(proposal.id, VoteType.For);
      await toVotingEnd(governor, proposal);
      await queue(governor, proposal, alice);
      const queuedAt = BigInt(await time.latest());
      const operationId = (await timelock.queryFilter(timelock.filters.CallScheduled())).at(-1)!.args.id;
      return { ...fixture, proposal, operationId, queuedAt, newCouncil };
    }

    it("refuses the council's cancellation of a proposal that replaces the council", async () => {
      const { governor, timelock, council, newCouncil, alice, proposal, operationId, queuedAt } = await councilProposal();
      await expect(timelock.connect(council).cancel(operationId)).to.be.reverted;
      expect(await timelock.isCouncilChange(operationId)).to.equal(true);
      await expect(timelock.connect(council).cancel(operationId))
        .to.be.revertedWithCustomError(timelock, "ProtocolTimelockCouncilChange")
        .withArgs(operationId, council.address);
      // It waits the longer council-change delay, and the governor announces that ETA to IGovernor clients.
      expect(await timelock.councilChangeDelay()).to.equal(BigInt(COUNCIL_CHANGE_DELAY));
      expect(await governor.proposalEta(proposal.id)).to.equal(queuedAt + BigInt(COUNCIL_CHANGE_DELAY));
      expect(await timelock.getTimestamp(operationId)).to.equal(queuedAt + BigInt(COUNCIL_CHANGE_DELAY));
      await time.increase(TIMELOCK_DELAY + 1);
      await expect(execute(governor, proposal, alice)).to.be.revertedWithCustomError(timelock, "TimelockUnexpectedOperationState");
      await time.increaseTo(queuedAt + BigInt(COUNCIL_CHANGE_DELAY));
      await execute(governor, proposal, alice);
      expect(await governor.state(proposal.id)).to.equal(ProposalState.Executed);
      expect(await timelock.hasRole(CANCELLER_ROLE, council.address)).to.equal(false);
      expect(await timelock.hasRole(CANCELLER_ROLE, newCouncil.address)).to.equal(true);
      expect(await timelock.hasRole(CANCELLER_ROLE, await governor.getAddress())).to.equal(true);
    });

    it("still lets the council cancel a proposal that bundles a council change with anything else", async () => {
      const { governor, timelock, token, council, users, proposal, operationId, queuedAt } = await councilProposal(true);
      expect(await timelock.isCouncilChange(operationId)).to.equal(false);
      expect(await governor.proposalEta(proposal.id)).to.equal(queuedAt + BigInt(TIMELOCK_DELAY));
      await timelock.connect(council).cancel(operationId);
      expect(await governor.state(proposal.id)).to.equal(ProposalState.Canceled);
      expect(await token.hasRole(MINTER_ROLE, users[8].address)).to.equal(false);
    });

    it("lets a canceller that is also a proposer (the deployer before the handover) cancel a council change", async () => {
      const { timelock, deployer, users } = await deployBeforeHandover();
      const tl = await timelock.getAddress();
      const data = timelock.interface.encodeFunctionData("grantRole", [CANCELLER_ROLE, users[3].address]);
      await timelock.connect(deployer).schedule(tl, 0n, data, ethers.ZeroHash, ethers.ZeroHash, TIMELOCK_DELAY);
      const id = await timelock.hashOperation(tl, 0n, data, ethers.ZeroHash, ethers.ZeroHash);
      expect(await timelock.isCouncilChange(id)).to.equal(true);
      expect(await timelock.getTimestamp(id)).to.equal(BigInt(await time.latest()) + BigInt(COUNCIL_CHANGE_DELAY));
      await expect(timelock.connect(deployer).cancel(id)).to.emit(timelock, "Cancelled").withArgs(id);
    });
  });
});
