// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title FTNS token
/// @notice The PRSM protocol token: an ERC-20 with EIP-2612 permit, ERC-5805 votes on a timestamp clock
/// (ERC-6372 `mode=timestamp`), holder-only burning, an emergency pause and a hard supply cap.
/// @dev Roles: DEFAULT_ADMIN_ROLE and UPGRADER_ROLE belong to the protocol timelock; MINTER_ROLE is granted by the
/// timelock only (for example to an emission schedule); GUARDIAN_ROLE may pause and unpause transfers and nothing
/// else. Cap violations revert with OpenZeppelin's `ERC20ExceededCap(increasedSupply, cap)`, balance and allowance
/// failures with the EIP-6093 errors of `IERC20Errors`.
interface IFTNSToken {
    /// @notice An initializer argument that must be a real address was zero.
    /// @param parameter The name of the argument (`treasury`, `admin` or `guardian`).
    error FTNSZeroAddress(string parameter);

    /// @notice Role allowed to mint new FTNS up to the cap.
    function MINTER_ROLE() external view returns (bytes32);

    /// @notice Role allowed to pause and unpause transfers, mints and burns.
    function GUARDIAN_ROLE() external view returns (bytes32);

    /// @notice Role allowed to upgrade the implementation behind the proxy.
    function UPGRADER_ROLE() external view returns (bytes32);

    /// @notice Total supply can never exceed this: 1,000,000,000 FTNS (18 decimals).
    function MAX_SUPPLY() external view returns (uint256);

    /// @notice Minted to the treasury once, at initialisation: 100,000,000 FTNS.
    function INITIAL_SUPPLY() external view returns (uint256);

    /// @notice Mints `amount` to `to`. Reverts with `ERC20ExceededCap` past the cap, `EnforcedPause` while paused.
    /// @dev Only MINTER_ROLE.
    function mint(address to, uint256 amount) external;

    /// @notice Stops every balance change (transfers, mints, burns). Delegation and voting keep working.
    /// @dev Only GUARDIAN_ROLE.
    function pause() external;

    /// @notice Lets balances move again. @dev Only GUARDIAN_ROLE.
    function unpause() external;
}
