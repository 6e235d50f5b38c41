/**
 * Contract addresses and ABIs for the workers, read from the hardhat-deploy deployment files of the chosen network
 * (deployments/<network>/<Name>.json), never hard-coded. An explicit address variable overrides the file.
 */
import fs from "node:fs";
import path from "node:path";
import type { Abi, Address } from "viem";
import { deploymentsDir } from "../../config/deployments";
import { ConfigError, optionalEnv } from "../../config/env";

export interface DeployedContract {
  address: Address;
  abi: Abi;
}

export function loadDeployment(network: string, name: string, addressVariable?: string): DeployedContract {
  const file = path.join(deploymentsDir(), network, `${name}.json`);
  if (!fs.existsSync(file)) {
    throw new ConfigError("NETWORK", `no deployment of ${name} for network "${network}" (${file}); deploy first`);
  }
  const json = JSON.parse(fs.readFileSync(file, "utf8")) as { address: Address; abi: Abi };
  const override = addressVariable ? optionalEnv(addressVariable) : undefined;
  return { address: (override as Address | undefined) ?? json.address, abi: json.abi };
}
