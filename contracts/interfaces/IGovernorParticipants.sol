// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Participant registry of the PRSM governor
/// @notice Quadratic voting is only sybil-resistant if one person cannot split tokens across many wallets. Only
/// registered participants carry voting weight; the registry is maintained by governance itself and by attestors
/// it appoints (for example a proof-of-personhood bridge). See docs/governance.md for the trade-off.
/// @dev The rules, chosen so that no single attestor key can capture governance:
/// - Voters are fixed when a proposal is created: a vote counts only if the voter was registered at
///   {proposalRegistrationTimepoint} (one second before the proposal's creation). A registration made after a
///   proposal is created (even during its voting delay) cannot affect it.
/// - Removal is prospective: unregistering an account never takes away its vote on a proposal created while it was
///   registered, and re-registering it later keeps its earlier registration periods (they are stored on
///   re-registration, so the one-slot read of the common case stays the only cost of a vote).
/// - An attestor's registration takes effect only 14 days after it is made (longer than one whole governance
///   cycle on Polygon: 1 day delay + 7 days voting + up to 2 days late-quorum extension + 2 days timelock), so
///   governance can remove a compromised attestor and cancel its pending registrations (by unregistering them)
///   before any of them can vote. `ParticipantRegistered.since` is the time it takes effect.
/// - An attestor makes at most 50 registry changes (registrations and removals together) per 7 days: a burst of
///   up to 50, then one every 7 days / 50 (3 h 21 min 36 s). Past that, `GovernorAttestorQuotaExceeded` names
///   the time the next change is possible. An attestor may remove only the accounts it registered itself.
/// - Governance (a proposal executed through the timelock) registers with immediate effect, without quota, and may
///   remove anyone: it has already passed a vote and the timelock delay. The bootstrap participants are registered
///   at initialisation, with immediate effect.
/// The delay and the quota are constants; changing them is an upgrade of the governor.
interface IGovernorParticipants {
    /// @notice `account` was registered by `registrar` (an attestor or governance); the registration takes effect
    /// at timestamp `since` (14 days in the future for an attestor's registration).
    event ParticipantRegistered(address indexed account, address indexed registrar, uint48 since);
    /// @notice `account` stopped being a participant (or its pending registration was cancelled) at timestamp
    /// `until`. Proposals created up to `until` keep its vote.
    event ParticipantUnregistered(address indexed account, address indexed registrar, uint48 until);
    /// @notice Governance appointed (`allowed` = true) or removed an attestor.
    event AttestorChanged(address indexed attestor, bool allowed);

    /// @notice The caller is neither an attestor nor governance, or is an attestor removing an account that another
    /// registrar registered.
    error GovernorUnauthorizedRegistrar(address caller);
    error GovernorParticipantAlreadyRegistered(address account);
    error GovernorParticipantNotRegistered(address account);
    error GovernorInvalidParticipant(address account);
    /// @notice `voter` was not a registered participant at `timepoint`, the proposal's
    /// {proposalRegistrationTimepoint}.
    error GovernorUnregisteredVoter(address voter, uint256 timepoint);
    /// @notice `attestor` used up its quota (50 changes per 7 days); its next change is possible from `availableAt`.
    error GovernorAttestorQuotaExceeded(address attestor, uint256 availableAt);

    /// @notice Registers `account`. By an attestor: effective 14 days from now and counted against its quota. By
    /// governance: effective now. A registration not yet in effect counts as registered for this function (it
    /// cannot be made twice) and for {participantCount}, not for {isParticipant} or voting.
    function registerParticipant(address account) external;

    /// @notice Ends `account`'s registration (or cancels a pending one) from now on; votes on proposals created up
    /// to now are kept. Governance may remove anyone; an attestor only the accounts it registered (counted
    /// against its quota).
    function unregisterParticipant(address account) external;

    /// @notice Appoints or removes an attestor. Only governance (a proposal executed through the timelock).
    function setAttestor(address attestor, bool allowed) external;

    function isAttestor(address account) external view returns (bool);

    /// @notice Whether `account` is registered now, its registration having taken effect.
    function isParticipant(address account) external view returns (bool);

    /// @notice Whether `account` was registered at `timepoint` (a timestamp, as the governor's clock), counting
    /// every registration period it ever had.
    function isParticipantAt(address account, uint256 timepoint) external view returns (bool);

    /// @notice The timepoint at which registration is checked for votes on `proposalId`: one second before the
    /// proposal was created. (Voting weight itself is read at the snapshot, `proposalSnapshot`.)
    function proposalRegistrationTimepoint(uint256 proposalId) external view returns (uint256);

    /// @notice Number of accounts registered now, including registrations that have not taken effect yet.
    function participantCount() external view returns (uint256);
}
