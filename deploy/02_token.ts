import type { DeployFunction } from "hardhat-deploy/types";
import { requireAddress } from "../config/env";
import { parametersFor } from "../config/parameters";
import { Deployments, Tags } from "../config/deployments";
import { deployUupsProxy } from "../helpers/proxy";

/** FTNS behind a UUPS proxy: 100M minted to the timelock (treasury), which is also its admin and upgrader. */
const deployToken: DeployFunction = async (hre) => {
  const { deployer } = await hre.getNamedAccounts();
  const timelock = await hre.deployments.get(Deployments.Timelock);
  const { token } = parametersFor(hre.network.name);
  const guardian = token.guardian.kind === "deployer" ? deployer : requireAddress(token.guardian.variable);

  await deployUupsProxy(hre, Deployments.Token, {
    initializer: { method: "initialize", args: [timelock.address, timelock.address, guardian] },
  });
};

deployToken.id = "02_token";
deployToken.tags = [Tags.Token];
deployToken.dependencies = [Tags.Timelock];
export default deployToken;
