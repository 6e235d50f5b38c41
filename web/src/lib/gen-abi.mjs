// Writes web/src/lib/abi.ts from the compiled artifacts: `node web/src/lib/gen-abi.mjs` (after `npx hardhat compile`).
// Why generated and committed rather than imported as JSON at build time: a JSON import is typed with widened types
// (string, not "openEscrowWithSessionKey"), so wagmi/viem could not type-check function names, arguments and return
// values; an `as const` TypeScript array keeps every literal type. The ABIs are whole (minus constructors, fallback
// and initializers), so every custom error decodes. Re-run it whenever a contract's interface changes.
import fs from "node:fs";
import path from "node:path";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../../..");
const art = (p) => JSON.parse(fs.readFileSync(path.join(root, "artifacts/contracts", p), "utf8")).abi;
const sig = (i) => `${i.type}:${i.name}(${(i.inputs ?? []).map((x) => x.type).join(",")})`;
function merge(...abis) {
  const seen = new Set();
  const out = [];
  for (const abi of abis)
    for (const item of abi) {
      if (item.type === "constructor" || item.type === "fallback" || item.type === "receive") continue;
      if (item.type === "function" && /^(initialize|upgradeToAndCall|proxiableUUID|UPGRADE_INTERFACE_VERSION)$/.test(item.name)) continue;
      const k = sig(item);
      if (seen.has(k)) continue;
      seen.add(k);
      out.push(item);
    }
  return out;
}
const sets = {
  tokenAbi: merge(art("FTNSToken.sol/FTNSToken.json")),
  marketplaceAbi: merge(
    art("ModelMarketplace.sol/ModelMarketplace.json"),
    // Session keys (IMarketplaceSessionKeys): merged here until ModelMarketplace's own artifact carries them.
    art("interfaces/IMarketplaceSessionKeys.sol/IMarketplaceSessionKeys.json"),
    art("marketplace/MarketplaceBatches.sol/MarketplaceBatchModule.json").filter((i) => i.type === "error" || i.type === "event"),
  ),
  governorAbi: merge(art("FTNSGovernor.sol/FTNSGovernor.json")),
  timelockAbi: merge(art("ProtocolTimelock.sol/ProtocolTimelock.json")),
  committeeAbi: merge(art("FederationCommittee.sol/FederationCommittee.json")),
};
let text = `/**\n * Contract ABIs as \`as const\` arrays, GENERATED from artifacts/contracts by web/src/lib/gen-abi.mjs (do not edit by hand;\n * re-run it after a contract interface changes). See that script for why generated TypeScript rather than a JSON import.\n */\nimport type { Abi } from "viem";\n`;
for (const [name, abi] of Object.entries(sets)) text += `\nexport const ${name} = ${JSON.stringify(abi)} as const;\n`;
text += `\n/** Every ABI above, for decoding a revert's custom error whichever contract raised it. */\nexport const allAbis: Abi = [...marketplaceAbi, ...governorAbi, ...tokenAbi, ...timelockAbi, ...committeeAbi];\n`;
fs.writeFileSync(path.join(root, "web/src/lib/abi.ts"), text);
console.log(Object.entries(sets).map(([n, a]) => `${n}: ${a.length} items`).join(", "));
