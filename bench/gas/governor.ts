import type { HardhatRuntimeEnvironment } from "hardhat/types";
import type { ContractTransactionResponse } from "ethers";
import type { GasSection } from "./types";

async function gasOf(tx: Promise<ContractTransactionResponse>): Promise<bigint> {
  const receipt = await (await tx).wait();
  if (!receipt) throw new Error("transaction was not mined");
  return receipt.gasUsed;
}

/**
 * One proposal lifecycle (propose, castVote, castVoteBySig, queue, execute) on FTNSGovernor and on a plain
 * OpenZeppelin governor with GovernorCountingSimple and otherwise the same extensions (settings, votes, quorum
 * fraction, timelock control, late-quorum protection), non-upgradeable, with its own timelock, on the same token.
 */
export async function governorGas(hre: HardhatRuntimeEnvironment): Promise<GasSection> {
  const { ethers, deployments } = hre;
  await deployments.fixture();
  const signers = await ethers.getSigners();
  const [deployer, alice, bob] = signers; // alice and bob are bootstrap participants on local networks
  // One pre-funded recipient per governor, so neither lifecycle pays the other's first balance write.
  const recipients = { ours: signers[12], reference: signers[13] };
  const token = await ethers.getContractAt("FTNSToken", (await deployments.get("FTNSToken")).address);
  const governor = await ethers.getContractAt("FTNSGovernor", (await deployments.get("FTNSGovernor")).address);
  const timelockAddress = (await deployments.get("ProtocolTimelock")).address;
  await hre.network.provider.request({ method: "hardhat_impersonateAccount", params: [timelockAddress] });
  await hre.network.provider.request({ method: "hardhat_setBalance", params: [timelockAddress, "0x56BC75E2D63100000"] });
  const treasury = await ethers.getSigner(timelockAddress);

  const refTimelock = await (await ethers.getContractFactory("ProtocolTimelock")).deploy(
    60,
    [],
    [ethers.ZeroAddress],
    deployer.address,
  );
  const reference = await (await ethers.getContractFactory("ReferenceGovernor")).deploy(
    await token.getAddress(),
    await refTimelock.getAddress(),
    10,
    300,
    ethers.parseEther("1000"),
    1, // 1% of supply: 1,000,000 FTNS
  );
  await refTimelock.grantRole(ethers.id("PROPOSER_ROLE"), await reference.getAddress());

  await token.connect(treasury).transfer(alice.address, ethers.parseEther("2000000"));
  await token.connect(treasury).transfer(bob.address, ethers.parseEther("1000"));
  await token.connect(treasury).transfer(await refTimelock.getAddress(), ethers.parseEther("10"));
  for (const r of Object.values(recipients)) await token.connect(treasury).transfer(r.address, 1n);
  await token.connect(alice).delegate(alice.address);
  await token.connect(bob).delegate(bob.address);
  await hre.network.provider.send("evm_increaseTime", [1]);

  const lifecycle = async (gov: typeof governor, tag: "ours" | "reference") => {
    const recipient = recipients[tag];
    const targets = [await token.getAddress()];
    const values = [0n];
    const calldatas = [token.interface.encodeFunctionData("transfer", [recipient.address, 1n])];
    const description = `Pay 1 wei of FTNS (${tag})`;
    const descriptionHash = ethers.id(description);
    const results: Record<string, bigint> = {};
    results["propose (one action)"] = await gasOf(gov.connect(alice).propose(targets, values, calldatas, description));
    const id = await gov.getProposalId(targets, values, calldatas, descriptionHash);
    await hre.network.provider.send("evm_setNextBlockTimestamp", [Number(await gov.proposalSnapshot(id)) + 1]);
    await hre.network.provider.send("evm_mine", []);
    results["castVote (first vote, reaches quorum)"] = await gasOf(gov.connect(alice).castVote(id, 1));

    const { name, version, chainId, verifyingContract } = await gov.eip712Domain();
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
      { proposalId: id, support: 1, voter: bob.address, nonce: await gov.nonces(bob.address) },
    );
    results["castVoteBySig"] = await gasOf(gov.connect(recipient).castVoteBySig(id, 1, bob.address, signature));
    await hre.network.provider.send("evm_setNextBlockTimestamp", [Number(await gov.proposalDeadline(id)) + 1]);
    await hre.network.provider.send("evm_mine", []);
    results["queue"] = await gasOf(gov.connect(alice).queue(targets, values, calldatas, descriptionHash));
    await hre.network.provider.send("evm_increaseTime", [61]);
    await hre.network.provider.send("evm_mine", []);
    results["execute"] = await gasOf(gov.connect(alice).execute(targets, values, calldatas, descriptionHash));
    return results;
  };

  const ours = await lifecycle(governor, "ours");
  const theirs = await lifecycle(reference as unknown as typeof governor, "reference");
  return {
    title: "Governance",
    referenceName: "OZ GovernorCountingSimple",
    description:
      "FTNSGovernor behind its ERC-1967 proxy (quadratic counting over registered participants) next to a plain " +
      "OpenZeppelin 5.4 Governor with GovernorCountingSimple and the same settings, votes, timelock and late-quorum " +
      "extensions (quorum as a fraction of supply), non-upgradeable, same token, same run. Both are compiled with " +
      "200 optimizer runs to fit the 24 KiB code limit.",
    notes: [
      "castVote adds the registration check (one storage read: registrations live inside the governor rather than " +
        "in a separate registry contract, which would cost an external call per vote), the square root and the " +
        "proxy hop. castVoteBySig, propose and execute also pay the upgradeable EIP-712 domain, rebuilt from " +
        "storage on every signature (a non-upgradeable governor caches it in immutables).",
    ],
    rows: Object.keys(ours).map((operation) => ({
      operation,
      gas: ours[operation],
      reference: theirs[operation],
      target: operation.startsWith("castVote (") ? { maxRatio: 1.1 } : undefined,
    })),
  };
}
