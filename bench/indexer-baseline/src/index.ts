/**
 * Benchmark baseline: every event of every protocol contract registered with an empty handler, so Ponder fetches
 * and decodes exactly what the real indexer does and the difference in backfill speed is the handlers' cost.
 */
import { ponder } from "ponder:registry";
import { FTNSGovernorAbi, FTNSTokenAbi, FederationCommitteeAbi, ModelMarketplaceAbi, ProtocolTimelockAbi } from "../../../indexer/abis";

const contracts = {
  FTNSToken: FTNSTokenAbi,
  ProtocolTimelock: ProtocolTimelockAbi,
  FTNSGovernor: FTNSGovernorAbi,
  ModelMarketplace: ModelMarketplaceAbi,
  FederationCommittee: FederationCommitteeAbi,
};

for (const [contract, abi] of Object.entries(contracts)) {
  for (const item of abi) {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    if (item.type === "event") ponder.on(`${contract}:${item.name}` as any, async () => {});
  }
}
