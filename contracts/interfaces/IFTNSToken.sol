// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title FTNS token
/// @notice The PRSM protocol token: an ERC-20 with EIP-2612 permit, ERC-5805 votes on a timestamp clock
/// (ERC-6372 `mode=timestamp`), holder-only burning, an emergency pause and a hard supply cap.
/// @dev Roles: DEFAULT_ADMIN_ROLE and UPGRADER_ROLE belong to the protocol timelock; MINTER_ROLE is granted by the
/// timelock only (for example to an emission schedule); GUARDIAN_ROLE may pause and unpause transfers and nothing
/// else, and no pause outlives governance's will: a guardian's pause ends by itself after {MAX_PAUSE} (14 days,
/// longer than one governance cycle, so governance can extend it in time), only governance (DEFAULT_ADMIN_ROLE,
/// the timelock) may extend it, shorten it or end it early ({setPausedUntil}), and after a pause the guardian must
/// wait as long as that pause lasted (at most {MAX_PAUSE}) before pausing again, so it alone can keep FTNS paused
/// at most half the time while governance decides whether to keep it as guardian. Cap violations revert with OpenZeppelin's `ERC20ExceededCap(increasedSupply, cap)`, balance and allowance
/// failures with the EIP-6093 errors of `IERC20Errors`.
interface IFTNSToken {
    /// @notice An initializer argument that must be a real address was zero.
    /// @param parameter The name of the argument (`treasury`, `admin` or `guardian`).
    error FTNSZeroAddress(string parameter);

    /// @notice The guardian paused recently: it may pause again from `availableAt`.
    error FTNSPauseCooldown(uint256 availableAt);

    /// @notice The pause window now ends at `pausedUntil` (a past or present time: not paused). Emitted by every
    /// pause, unpause and governance change of the window, next to OpenZeppelin's Paused/Unpaused when the state
    /// flips. A pause that simply expires emits nothing.
    event PauseEndChanged(uint48 pausedUntil);

    /// @notice Longest a guardian's pause lasts unless governance extends it: 14 days.
    function MAX_PAUSE() external view returns (uint48);

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

    /// @notice Stops every balance change (transfers, mints, burns) for {MAX_PAUSE}; transfers work again after that
    /// without any call. Delegation and voting keep working. Reverts with `EnforcedPause` while paused and with
    /// {FTNSPauseCooldown} too soon after the previous pause.
    /// @dev Only GUARDIAN_ROLE.
    function pause() external;

    /// @notice Lets balances move again now. Reverts with `ExpectedPause` when not paused. @dev Only GUARDIAN_ROLE.
    function unpause() external;

    /// @notice Governance sets the end of the pause window: a future `until` pauses (or extends or shortens the
    /// running pause) until then, without limit; `until` at or before now unpauses (a no-op when not paused).
    /// @dev Only DEFAULT_ADMIN_ROLE (the timelock, i.e. a proposal).
    function setPausedUntil(uint48 until) external;

    /// @notice End of the current or last pause window (0 if never paused); paused while it is in the future.
    function pausedUntil() external view returns (uint48);
}
