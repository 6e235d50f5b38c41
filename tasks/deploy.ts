import { task } from "hardhat/config";
import { HardhatPluginError } from "hardhat/plugins";
import { ConfigError } from "../config/env";
import { GenesisError, loadGenesis } from "../config/genesis";
import { assertLiveNetworkEnv, isLiveNetwork } from "../config/networks";

// hardhat-deploy asks the RPC for its chain id before running any script, so a missing AMOY_RPC_URL would
// surface as a DNS error. Validate the live-network configuration first and name the variable at fault.
task("deploy").setAction(async (args, hre, runSuper) => {
  try {
    assertLiveNetworkEnv(hre.network.name);
    // The reviewed genesis plan is checked whole before the first transaction, too.
    if (isLiveNetwork(hre.network.name)) loadGenesis(hre.network.name);
  } catch (error) {
    if (error instanceof ConfigError || error instanceof GenesisError) {
      throw new HardhatPluginError("prsm", `Cannot deploy to ${hre.network.name}: ${error.message}. Nothing was deployed.`);
    }
    throw error;
  }
  return runSuper(args);
});
