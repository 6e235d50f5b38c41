// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {VestingWalletCliff} from "@openzeppelin/contracts/finance/VestingWalletCliff.sol";
import {VestingWallet} from "@openzeppelin/contracts/finance/VestingWallet.sol";

/// @title GenesisVestingWallet
/// @notice A genesis allocation that vests linearly after a cliff (OpenZeppelin's VestingWalletCliff, unchanged).
/// The treasury funds it through a timelock operation at deployment; the beneficiary (its owner) releases what has
/// vested. Unvested FTNS carries no votes: the wallet never delegates, so only released tokens can govern.
contract GenesisVestingWallet is VestingWalletCliff {
    constructor(address beneficiary, uint64 startTimestamp, uint64 durationSeconds, uint64 cliffSeconds)
        VestingWallet(beneficiary, startTimestamp, durationSeconds)
        VestingWalletCliff(cliffSeconds)
    {}
}
