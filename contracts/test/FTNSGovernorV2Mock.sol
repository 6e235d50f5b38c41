// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {FTNSGovernor} from "../FTNSGovernor.sol";

/// @notice Test-only upgrade target for the governor: proves governance can upgrade itself, keeping its state.
/// @custom:oz-upgrades-from FTNSGovernor
/// @custom:oz-upgrades-unsafe-allow missing-initializer
contract FTNSGovernorV2Mock is FTNSGovernor {
    function implementationVersion() external pure returns (uint256) {
        return 2;
    }
}
