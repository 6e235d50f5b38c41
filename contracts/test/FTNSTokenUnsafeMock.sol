// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {FTNSToken} from "../FTNSToken.sol";

/// @notice Test-only: an upgrade the storage validation must refuse (a state variable with an initial value,
/// which a proxy would never see because constructors and initial values run only in the implementation).
/// @custom:oz-upgrades-from FTNSToken
contract FTNSTokenUnsafeMock is FTNSToken {
    uint256 public feeBps = 250;
}
