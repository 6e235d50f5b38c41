// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {FTNSToken} from "../FTNSToken.sol";

/// @notice Test-only upgrade target: proves an upgrade through the timelock keeps balances and votes and that the
/// storage layout check accepts an append-only change.
/// @custom:oz-upgrades-from FTNSToken
/// @custom:oz-upgrades-unsafe-allow missing-initializer
contract FTNSTokenV2Mock is FTNSToken {
    /// @notice Runs through `upgradeToAndCall` in a real upgrade. The parents were initialised by V1's
    /// `initialize` behind the proxy, hence the `missing-initializer` allowance above.
    function initializeV2(string calldata motto_) external reinitializer(2) {
        _v2().motto = motto_;
    }

    /// @custom:storage-location erc7201:prsm.storage.FTNSTokenV2Mock
    struct V2Storage {
        string motto;
    }

    // keccak256(abi.encode(uint256(keccak256("prsm.storage.FTNSTokenV2Mock")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant V2_STORAGE = 0x83a0b046f788bcb69d3f9968bdf98e2553dee948c031a6dccd77eae230b5bf00;

    function version() external pure returns (uint256) {
        return 2;
    }

    function setMotto(string calldata motto_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _v2().motto = motto_;
    }

    function motto() external view returns (string memory) {
        return _v2().motto;
    }

    function _v2() private pure returns (V2Storage storage $) {
        assembly {
            $.slot := V2_STORAGE
        }
    }
}
