// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Participant registry of the PRSM governor
/// @notice Quadratic voting is only sybil-resistant if one person cannot split tokens across many wallets. Only
/// registered participants carry voting weight; the registry is maintained by governance itself and by attestors
/// it appoints (for example a proof-of-personhood bridge). See docs/governance.md for the trade-off.
/// @dev Registration is checked at the proposal snapshot, so accounts registered after a proposal's snapshot cannot
/// vote on it. One storage slot per account keeps the vote path cheap; the price is that re-registering an account
/// forgets its earlier registration period (a re-registered account cannot vote on proposals whose snapshot falls in
/// that earlier period — it can only lose weight this way, never gain it).
interface IGovernorParticipants {
    /// @notice `account` was registered by `registrar` (an attestor or governance) at timestamp `since`.
    event ParticipantRegistered(address indexed account, address indexed registrar, uint48 since);
    /// @notice `account` stopped being a participant at timestamp `until`.
    event ParticipantUnregistered(address indexed account, address indexed registrar, uint48 until);
    /// @notice Governance appointed (`allowed` = true) or removed an attestor.
    event AttestorChanged(address indexed attestor, bool allowed);

    /// @notice The caller is neither an attestor nor governance.
    error GovernorUnauthorizedRegistrar(address caller);
    error GovernorParticipantAlreadyRegistered(address account);
    error GovernorParticipantNotRegistered(address account);
    error GovernorInvalidParticipant(address account);
    /// @notice `voter` was not a registered participant at the proposal snapshot `snapshot`.
    error GovernorUnregisteredVoter(address voter, uint256 snapshot);

    /// @notice Registers `account` from now on. Only an attestor or governance.
    function registerParticipant(address account) external;

    /// @notice Ends `account`'s registration from now on. Only an attestor or governance.
    function unregisterParticipant(address account) external;

    /// @notice Appoints or removes an attestor. Only governance (a proposal executed through the timelock).
    function setAttestor(address attestor, bool allowed) external;

    function isAttestor(address account) external view returns (bool);

    /// @notice Whether `account` is registered now.
    function isParticipant(address account) external view returns (bool);

    /// @notice Whether `account` was registered at `timepoint` (a timestamp, as the governor's clock).
    function isParticipantAt(address account, uint256 timepoint) external view returns (bool);

    /// @notice Number of accounts registered now.
    function participantCount() external view returns (uint256);
}
