// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IUsageAttestationVerifier} from "./IUsageAttestationVerifier.sol";

/// @title PRSM federation committee
/// @notice Independent nodes bond FTNS, are admitted by governance (or automatically above a bond size governance
/// sets), and attest to usage. With n members the committee tolerates f = floor((n-1)/3) faulty ones and accepts an
/// attestation signed by a quorum of floor(2n/3)+1 = n-f members: strictly more than two thirds for every n (2f+1
/// when n = 3f+1), so two quorums always share an honest member, and f crashed members never stop it. Attestations
/// are refused while the committee is smaller than `minCommitteeSize`, which is never below 4
/// (`MIN_COMMITTEE_SIZE_FLOOR`, the smallest committee that tolerates a fault).
///
/// Membership changes open a new epoch; an attestation names its epoch, and the previous epoch stays verifiable for
/// `epochGrace` seconds so reports in flight during a change still settle.
///
/// Churn rule: every bond must bring the caller's total to at least `minBond`, and admission by bond size
/// (`autoAdmissionBond`) is only for accounts that were never members. A member that left or was removed can come
/// back only through governance (`admit`), so `leave()` + `bond()` neither undoes a removal nor cycles epochs, and
/// each epoch change by bond size costs a fresh account's `autoAdmissionBond`, locked for `unbondingDelay` after it
/// leaves.
///
/// Two conflicting signatures by one member for the same marketplace, escrow and sequence prove equivocation, whether
/// each covers a single report or one entry of a batch (`proveEquivocation`, `proveBatchEquivocation`,
/// `proveMixedEquivocation`): anyone may submit them, and the member's whole bond is slashed and the member removed for good. Its signature then counts
/// in no epoch: the epoch it was replaced in, if still in its grace period, is revoked at once (reports in flight are
/// signed again in the current epoch). `slashRewardBps` of the bond goes to the reporter only if the reporter is an
/// active member (which the slashed account no longer is); the rest, or all of it for any other reporter, goes to the
/// treasury. An equivocator holds its own evidence first, so a reward open to any address would let it report itself
/// from a second address and keep that share.
///
/// Attestation bytes (what the marketplace passes through): `abi.encode(Attestation)` where `members` is the epoch's
/// ordered member list (checked against the hash stored for the epoch), `signers` a bitmap of member indexes, and
/// `signatures` one EIP-2098 compact signature (r, vs) per set bit, in ascending index order. Each member index can
/// appear once, so no signer is counted twice, and verification is a single pass over the bits.
/// @dev EIP-712 type signed by members, in the committee's domain:
/// `UsageAttestation(address marketplace,uint256 escrowId,uint256 cumulativeUnits,uint64 sequence,bytes32 resultDigest,uint64 epoch)`
/// where `marketplace` is the contract that consumes the attestation (the caller of `verifyUsageAttestation`): an
/// attestation for one marketplace settles nothing on another, and a node serving two signs different messages.
/// A batch of reports is one signature per member over
/// `UsageBatch(address marketplace,bytes32 entriesHash,uint64 epoch)`, where `entriesHash` is keccak256 of the packed
/// entry words, two per report: `escrowId (uint64) | sequence (uint64) | cumulativeUnits (uint128)`, `resultDigest`
/// (see {IMarketplaceBatches}); the attestation bytes are the same `Attestation` tuple.
interface IFederationCommittee is IUsageAttestationVerifier {
    struct Attestation {
        uint64 epoch;
        address[] members;
        uint256 signers;
        bytes32[2][] signatures;
    }

    /// @notice One member-signed usage report, as presented in an equivocation proof.
    struct SignedReport {
        uint256 cumulativeUnits;
        bytes32 resultDigest;
        uint64 epoch;
        bytes32[2] signature;
    }

    /// @notice One member-signed batch, as presented in an equivocation proof: the entry at `index` (words
    /// `2 * index` and `2 * index + 1` of `entries`) is the report in question.
    struct SignedBatch {
        bytes32[] entries;
        uint256 index;
        uint64 epoch;
        bytes32[2] signature;
    }

    /// @notice Governance-set parameters. `autoAdmissionBond` 0 disables admission by bond size.
    struct Parameters {
        uint96 minBond;
        uint96 autoAdmissionBond;
        uint48 unbondingDelay;
        uint48 epochGrace;
        uint16 slashRewardBps;
        uint16 minCommitteeSize;
    }

    /// @param lastEpoch The last epoch the account belonged to before its latest removal or departure; 0 if it never
    /// left. Non-zero rules out admission by bond size.
    struct Member {
        uint96 bond;
        uint48 unbondingAt;
        bool active;
        bool slashed;
        uint64 lastEpoch;
    }

    struct Epoch {
        bytes32 membersHash;
        uint16 size;
        uint48 startedAt;
        uint48 endedAt;
    }

    event Bonded(address indexed member, uint256 amount, uint256 totalBond);
    event MemberAdmitted(address indexed member, address indexed admittedBy);
    event MemberRemoved(address indexed member, address indexed removedBy, uint48 unbondingAt);
    event EpochStarted(uint64 indexed epoch, address[] members, uint16 quorum);
    event BondWithdrawn(address indexed member, uint256 amount);
    event EquivocationSlashed(
        address indexed member,
        address indexed reporter,
        uint256 indexed escrowId,
        uint64 sequence,
        uint256 reward,
        uint256 toTreasury
    );
    /// @notice A slashed member belonged to `epoch`, the replaced one: its grace period ends now.
    event EpochGraceRevoked(uint64 indexed epoch);
    event ParametersUpdated(Parameters parameters);
    event TreasuryUpdated(address treasury);

    error CommitteeZeroAddress(string parameter);
    error BondTooLow(address member, uint256 bond, uint256 minimumBond);
    error AlreadyMember(address member);
    error NotMember(address member);
    error MemberSlashed(address member);
    error CommitteeFull(uint256 size);
    error BondStillLocked(address member, uint48 unbondingAt);
    error NothingBonded(address member);
    error UnknownEpoch(uint64 epoch, uint64 currentEpoch);
    error EpochExpired(uint64 epoch, uint48 endedAt, uint48 graceUntil);
    error EpochRevoked(uint64 epoch);
    error ZeroBond();
    error MinCommitteeSizeTooLow(uint256 minCommitteeSize, uint256 floor);
    error MembersMismatch(uint64 epoch);
    error CommitteeTooSmall(uint256 size, uint256 minimumSize);
    error QuorumNotMet(uint256 signatures, uint256 quorum);
    error SignerOutOfRange(uint256 signers, uint256 size);
    error SignatureCountMismatch(uint256 signatures, uint256 bits);
    error InvalidMemberSignature(uint256 index, address member);
    error NotEquivocation();
    error BatchIndexOutOfRange(uint256 index, uint256 entries);
    error InvalidParameter(string parameter);

    /// @notice Bonds `amount` (non-zero) FTNS for the caller, pulled from it; the caller's total must reach `minBond`.
    /// A total at or above `autoAdmissionBond` (when set) admits a caller that was never a member at once; otherwise,
    /// and always for a member that left or was removed, governance admits it.
    function bond(uint96 amount) external;

    /// @notice Adds `member` to the committee, opening a new epoch. Only governance.
    function admit(address member) external;

    /// @notice Removes `member` (governance) or the caller itself (`leave`), opening a new epoch; its bond unlocks
    /// after the unbonding delay, during which it can still be slashed for equivocation. Only governance can admit
    /// it again.
    function remove(address member) external;

    function leave() external;

    /// @notice Returns a departed, unslashed member's bond once unlocked.
    function withdrawBond() external;

    /// @notice Slashes `member` if `a` and `b` are its signatures over two reports for the same marketplace, escrow
    /// and sequence with different units or result digest.
    function proveEquivocation(
        address member,
        address marketplace,
        uint256 escrowId,
        uint64 sequence,
        SignedReport calldata a,
        SignedReport calldata b
    ) external;

    /// @notice Slashes `member` if `a` and `b` are its signatures over two batches whose entries at `a.index` and
    /// `b.index` are for the same escrow and sequence with different units or result digest.
    function proveBatchEquivocation(address member, address marketplace, SignedBatch calldata a, SignedBatch calldata b)
        external;

    /// @notice Slashes `member` if `a` is its signature over a single report for `escrowId` and `sequence` and `b`
    /// its signature over a batch whose entry at `b.index` is for the same position with different content.
    function proveMixedEquivocation(
        address member,
        address marketplace,
        uint256 escrowId,
        uint64 sequence,
        SignedReport calldata a,
        SignedBatch calldata b
    ) external;

    /// @notice EIP-712 digest members sign for a batch of entries (hashed to `entriesHash`) consumed by
    /// `marketplace` in `epoch`.
    function batchDigest(address marketplace, bytes32 entriesHash, uint64 epoch) external view returns (bytes32);

    /// @notice EIP-712 digest members sign for a usage report consumed by `marketplace` in `epoch`.
    function attestationDigest(
        address marketplace,
        uint256 escrowId,
        uint256 cumulativeUnits,
        uint64 sequence,
        bytes32 resultDigest,
        uint64 epoch
    ) external view returns (bytes32);

    /// @notice Only governance. Refuses a `minCommitteeSize` below `MIN_COMMITTEE_SIZE_FLOOR`.
    function setParameters(Parameters calldata parameters) external;

    function getParameters() external view returns (Parameters memory);
    function treasury() external view returns (address);

    function setTreasury(address treasury) external;

    function currentEpoch() external view returns (uint64);
    function currentMembers() external view returns (address[] memory);
    function getEpoch(uint64 epoch) external view returns (Epoch memory);
    function getMember(address member) external view returns (Member memory);
    function committeeSize() external view returns (uint256);
    /// @notice f = floor((n-1)/3) for the current committee.
    function faultTolerance() external view returns (uint256);
    /// @notice floor(2*size/3)+1 signatures (= size - f, more than two thirds) for an epoch of `size` members.
    function quorumFor(uint256 size) external pure returns (uint256);
    function MAX_MEMBERS() external view returns (uint256);
    /// @notice 4: the least `minCommitteeSize` governance can set.
    function MIN_COMMITTEE_SIZE_FLOOR() external view returns (uint16);
}
