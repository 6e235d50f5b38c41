import { subtask } from "hardhat/config";
import { TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD } from "hardhat/builtin-tasks/task-names";
import type { HardhatUserConfig } from "hardhat/config";
import "@nomicfoundation/hardhat-toolbox";
import "@openzeppelin/hardhat-upgrades";
import "hardhat-deploy";
import { networks } from "./config/networks";
import "./tasks";

const SOLC_VERSION = "0.8.28";
const GOVERNOR_RUNS = 200;
// The marketplace (three modules behind one proxy) fits the 24 KiB limit only through the IR pipeline (23,999 bytes).
const MARKETPLACE_RUNS = 200;

// No compiler may be downloaded on these machines: compile with the solc-js build shipped in the `solc`
// npm package, pinned to the same version in package.json.
subtask(TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD, async (args: { solcVersion: string }, _hre, runSuper) => {
  if (args.solcVersion !== SOLC_VERSION) return runSuper();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const solc = require("solc") as { version(): string };
  const longVersion = solc.version().replace(/\.Emscripten\.clang$/, "");
  if (!longVersion.startsWith(SOLC_VERSION)) {
    throw new Error(`The solc npm package is ${longVersion}; hardhat.config.ts expects ${SOLC_VERSION}`);
  }
  return { compilerPath: require.resolve("solc/soljson.js"), isSolcJs: true, version: SOLC_VERSION, longVersion };
});

const settings = (runs: number, viaIR = false) => ({ optimizer: { enabled: true, runs }, evmVersion: "cancun", viaIR });

const config: HardhatUserConfig = {
  solidity: {
    compilers: [{ version: SOLC_VERSION, settings: settings(10_000) }],
    // A Governor with every extension exceeds the 24 KiB code limit when optimised for runtime gas; optimise
    // these for size instead (the gas report shows what that costs per vote).
    overrides: {
      "contracts/FTNSGovernor.sol": { version: SOLC_VERSION, settings: settings(GOVERNOR_RUNS) },
      "contracts/test/ReferenceGovernor.sol": { version: SOLC_VERSION, settings: settings(GOVERNOR_RUNS) },
      "contracts/test/FTNSGovernorV2Mock.sol": { version: SOLC_VERSION, settings: settings(GOVERNOR_RUNS) },
      "contracts/ModelMarketplace.sol": { version: SOLC_VERSION, settings: settings(MARKETPLACE_RUNS, true) },
    },
  },
  networks: networks(),
  namedAccounts: {
    deployer: { default: 0 },
    // Local only: live networks read SAFETY_COUNCIL_ADDRESS (config/parameters.ts).
    safetyCouncil: { default: 19 },
    // Local only: lists the launch models (live networks list them from the deployer, see deploy/06).
    demoProvider: { default: 18 },
  },
  paths: {
    sources: "contracts",
    // Contract tests run under Hardhat's mocha; test/e2e runs real processes under Node's test runner.
    tests: "test/contracts",
    deploy: "deploy",
    deployments: process.env.PRSM_DEPLOYMENTS_DIR || "deployments", // config/deployments.ts: deploymentsDir()
  },
  typechain: { outDir: "typechain-types", target: "ethers-v6" },
  gasReporter: { enabled: false },
  mocha: {
    timeout: 120_000,
    reporter: "./test/support/summary-reporter.js",
  },
  etherscan: { apiKey: process.env.ETHERSCAN_API_KEY ?? "" },
  sourcify: { enabled: false },
};

export default config;
