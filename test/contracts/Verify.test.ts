import { expect } from "chai";
import hre, { deployments, ethers } from "hardhat";
import { builtinChains } from "@nomicfoundation/hardhat-verify/internal/chain-config";
import { Etherscan } from "@nomicfoundation/hardhat-verify/etherscan";
import { artifactsByBytecode, describeProxyInit, verificationJobs } from "../../tasks/verify";
import { deployProtocol } from "../support/fixtures";

describe("deploy:verify (offline: what it would send)", () => {
  it("verifies every deployed bytecode once, with the constructor arguments it was deployed with", async () => {
    await deployProtocol();
    const all = await deployments.all();
    const jobs = verificationJobs(all, await artifactsByBytecode(hre));
    const names = jobs.map((j) => j.deployment);
    for (const proxied of ["FTNSToken", "FTNSGovernor", "ModelMarketplace", "FederationCommittee"]) {
      expect(names).to.include.members([`${proxied}_Proxy`, `${proxied}_Implementation`]);
      expect(names).to.not.include(proxied, "the proxy's alias is the proxy itself");
    }
    expect(names).to.include("ProtocolTimelock");
    for (const job of jobs) {
      const artifact = await hre.artifacts.readArtifact(job.contract);
      const tx = await ethers.provider.getTransaction(all[job.deployment]!.transactionHash!);
      // What the explorer checks: the creation code it compiles, followed by the arguments we send.
      expect(tx!.data, job.deployment).to.equal(artifact.bytecode + job.encodedArguments);
    }
    const marketplace = jobs.find((j) => j.deployment === "ModelMarketplace_Implementation")!;
    expect(marketplace.contract).to.equal("contracts/ModelMarketplace.sol:ModelMarketplace");
    expect(marketplace.constructorArguments).to.deep.equal([all.FTNSToken!.address, all.MarketplaceBatchModule!.address]);
    expect(names).to.include("MarketplaceBatchModule");
    expect(describeProxyInit(all, jobs.find((j) => j.deployment === "ModelMarketplace_Proxy")!)).to.equal("initialize(...)");
  });

  it("sends Amoy and Polygon verifications to Polygonscan through Etherscan's v2 API", () => {
    for (const [chainId, browser] of [[80002, "https://amoy.polygonscan.com"], [137, "https://polygonscan.com"]] as const) {
      const config = builtinChains.find((c) => c.chainId === chainId)!;
      const explorer = Etherscan.fromChainConfig("KEY", config);
      expect(explorer.apiUrl).to.equal("https://api.etherscan.io/v2/api");
      expect(explorer.chainId).to.equal(chainId);
      expect(explorer.getContractUrl("0x0000000000000000000000000000000000000001")).to.match(new RegExp(`^${browser}/address/`));
    }
  });
});
