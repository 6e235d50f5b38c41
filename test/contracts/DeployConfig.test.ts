import { expect } from "chai";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { ConfigError, requireAddress, requireEnv, requirePrivateKey, requireUrl } from "../../config/env";
import fs from "node:fs";
import { ethers } from "ethers";
import { GenesisError, loadGenesis, resolveGenesis, type GenesisPlan } from "../../config/genesis";
import { assertLiveNetworkEnv } from "../../config/networks";

const ROOT = path.resolve(__dirname, "..", "..");
const KEY = `0x${"ab".repeat(32)}`;
const GUARDIAN = `0x${"12".repeat(20)}`;

describe("Deploy configuration", () => {
  it("names each missing live-network variable in turn", () => {
    expect(() => assertLiveNetworkEnv("polygon", {})).to.throw(ConfigError, /^POLYGON_RPC_URL: is required/);
    expect(() => assertLiveNetworkEnv("amoy", { AMOY_RPC_URL: "https://rpc.example" })).to.throw(
      /^DEPLOYER_PRIVATE_KEY: is required/,
    );
    expect(() =>
      assertLiveNetworkEnv("amoy", { AMOY_RPC_URL: "https://rpc.example", DEPLOYER_PRIVATE_KEY: KEY }),
    ).to.throw(/^GUARDIAN_ADDRESS: is required/);
    const base = { AMOY_RPC_URL: "https://rpc.example", DEPLOYER_PRIVATE_KEY: KEY, GUARDIAN_ADDRESS: GUARDIAN };
    expect(() => assertLiveNetworkEnv("amoy", base)).to.throw(/^SAFETY_COUNCIL_ADDRESS: is required/);
    assertLiveNetworkEnv("amoy", { ...base, SAFETY_COUNCIL_ADDRESS: GUARDIAN });
  });

  describe("genesis plan", () => {
    const plan = () => JSON.parse(fs.readFileSync(path.join(ROOT, "config", "genesis", "example.json"), "utf8")) as GenesisPlan;
    const file = path.join(ROOT, "config", "genesis", "example.json");

    it("accepts the example plan and totals what leaves the treasury", () => {
      const g = resolveGenesis(plan(), file, "amoy");
      expect(g.members).to.have.length(4);
      expect(g.merkle[0]!.tree.root).to.match(/^0x[0-9a-f]{64}$/);
      // 20M + 15M + 1,250.5 + 4 x 50,000 + 8 x 10,000
      expect(g.total).to.equal(ethers.parseEther("35281250.5"));
    });

    it("names the field at fault", () => {
      const wrongNetwork = plan();
      expect(() => resolveGenesis(wrongNetwork, file, "polygon")).to.throw(GenesisError, /network: the plan is for "amoy"/);
      const badAddress = plan();
      (badAddress.allocations[0] as { to: string }).to = "0x12";
      expect(() => resolveGenesis(badAddress, file, "amoy")).to.throw(/allocations\[0\]\.to: "0x12" is not a non-zero address/);
      const badAmount = plan();
      (badAmount.allocations[0] as { amount: string }).amount = "-5";
      expect(() => resolveGenesis(badAmount, file, "amoy")).to.throw(/allocations\[0\]\.amount/);
      const small = plan();
      small.committee.members = small.committee.members.slice(0, 3);
      expect(() => resolveGenesis(small, file, "amoy")).to.throw(/committee\.members: needs at least 4/);
      const cliff = plan();
      (cliff.allocations[1] as { cliffDays: number }).cliffDays = 5_000;
      expect(() => resolveGenesis(cliff, file, "amoy")).to.throw(/allocations\[1\]\.cliffDays/);
    });

    it("refuses to deploy a live network without a plan, before any RPC call", () => {
      expect(() => loadGenesis("amoy", { GENESIS_FILE: path.join(ROOT, "config", "genesis", "missing.json") })).to.throw(GenesisError, /no genesis plan for "amoy"/);
    });
  });

  it("needs nothing for local networks", () => {
    assertLiveNetworkEnv("hardhat", {});
    assertLiveNetworkEnv("localhost", {});
  });

  it("rejects malformed values with the variable's name", () => {
    expect(() => requireUrl("X_URL", { X_URL: "not a url" })).to.throw(/^X_URL: must be an http/);
    expect(() => requirePrivateKey("K", { K: "0x1234" })).to.throw(/^K: must be a 0x-prefixed 32-byte/);
    expect(() => requireAddress("A", { A: "0xabc" })).to.throw(/^A: must be a 0x-prefixed 20-byte/);
    expect(() => requireEnv("E", { E: "   " })).to.throw(/^E: is required/);
  });

  it("stops `hardhat deploy --network amoy` before any RPC call when a variable is missing", function () {
    this.timeout(60_000);
    const env = { ...process.env, AMOY_RPC_URL: "http://127.0.0.1:9", DEPLOYER_PRIVATE_KEY: "", GUARDIAN_ADDRESS: "" };
    const run = spawnSync(path.join(ROOT, "node_modules/.bin/hardhat"), ["deploy", "--network", "amoy"], {
      cwd: ROOT,
      env,
      encoding: "utf8",
      timeout: 55_000,
    });
    expect(run.status).to.not.equal(0);
    expect(run.stderr + run.stdout).to.match(/Cannot deploy to amoy: DEPLOYER_PRIVATE_KEY: is required/);
    expect(run.stderr + run.stdout).to.not.match(/deploying "/);
  });
});
