import { expect } from "chai";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { ConfigError, requireAddress, requireEnv, requirePrivateKey, requireUrl } from "../../config/env";
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
    expect(() => assertLiveNetworkEnv("amoy", { ...base, SAFETY_COUNCIL_ADDRESS: GUARDIAN })).to.throw(
      /^INITIAL_PARTICIPANTS: is required/,
    );
    expect(() =>
      assertLiveNetworkEnv("amoy", { ...base, SAFETY_COUNCIL_ADDRESS: GUARDIAN, INITIAL_PARTICIPANTS: `${GUARDIAN},0x12` }),
    ).to.throw(/^INITIAL_PARTICIPANTS: contains "0x12"/);
    assertLiveNetworkEnv("amoy", { ...base, SAFETY_COUNCIL_ADDRESS: GUARDIAN, INITIAL_PARTICIPANTS: GUARDIAN });
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
