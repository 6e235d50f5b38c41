// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControlUpgradeable} from "@openzeppelin/contracts-upgradeable/access/AccessControlUpgradeable.sol";
import {Initializable} from "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol";
import {UUPSUpgradeable} from "@openzeppelin/contracts-upgradeable/proxy/utils/UUPSUpgradeable.sol";
import {EIP712Upgradeable} from "@openzeppelin/contracts-upgradeable/utils/cryptography/EIP712Upgradeable.sol";
import {ReentrancyGuardTransientUpgradeable} from
    "@openzeppelin/contracts-upgradeable/utils/ReentrancyGuardTransientUpgradeable.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

import {IFederationCommittee} from "./interfaces/IFederationCommittee.sol";
import {IUsageAttestationVerifier} from "./interfaces/IUsageAttestationVerifier.sol";

/// @title FederationCommittee
/// @notice See {IFederationCommittee}.
/// @custom:security-contact security@prsm.example
contract FederationCommittee is
    IFederationCommittee,
    Initializable,
    AccessControlUpgradeable,
    EIP712Upgradeable,
    ReentrancyGuardTransientUpgradeable,
    UUPSUpgradeable
{
    using SafeERC20 for IERC20;

    bytes32 public constant UPGRADER_ROLE = keccak256("UPGRADER_ROLE");
    /// @notice Admits and removes members (the timelock).
    bytes32 public constant MEMBERSHIP_ROLE = keccak256("MEMBERSHIP_ROLE");
    /// @inheritdoc IFederationCommittee
    uint256 public constant MAX_MEMBERS = 255; // a uint256 bitmap of signers, with room to spare
    /// @inheritdoc IFederationCommittee
    uint16 public constant MIN_COMMITTEE_SIZE_FLOOR = 4; // the smallest committee that tolerates one fault
    uint16 private constant BPS = 10_000;
    /// @dev secp256k1's group order / 2: signatures with a larger `s` are the malleable twins of valid ones.
    uint256 private constant HALF_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    bytes32 private constant ATTESTATION_TYPEHASH = keccak256(
        "UsageAttestation(address marketplace,uint256 escrowId,uint256 cumulativeUnits,uint64 sequence,bytes32 resultDigest,uint64 epoch)"
    );
    bytes32 private constant BATCH_TYPEHASH = keccak256("UsageBatch(address marketplace,bytes32 entriesHash,uint64 epoch)");

    /// @custom:oz-upgrades-unsafe-allow state-variable-immutable
    IERC20 private immutable TOKEN;

    /// @dev The first slot holds everything verification needs besides the epoch's member hash, so verifying an
    /// attestation reads two storage slots whatever the committee size.
    /// @custom:storage-location erc7201:prsm.storage.FederationCommittee
    struct CommitteeStorage {
        uint64 currentEpoch;
        uint48 epochChangedAt;
        uint48 epochGrace;
        uint16 minCommitteeSize;
        /// @dev Set when a member of the replaced epoch is slashed: that epoch's grace ends at once.
        bool previousEpochRevoked;
        address treasury;
        Parameters params;
        address[] members;
        mapping(address member => Member) memberInfo;
        mapping(uint64 epoch => Epoch) epochs;
    }

    // keccak256(abi.encode(uint256(keccak256("prsm.storage.FederationCommittee")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant STORAGE_LOCATION = 0x46c0fb0ffb45321cd370b5a24abcebb09f12375d7f8969b84402047db4ba7400;

    function _getStorage() private pure returns (CommitteeStorage storage $) {
        assembly {
            $.slot := STORAGE_LOCATION
        }
    }

    /// @param bootstrapAdmitter Temporarily holds MEMBERSHIP_ROLE so a deployment can admit the first nodes
    /// (they can only bond once the contract exists); the deployment's last step renounces it. May be zero.
    struct InitParams {
        address admin;
        address treasury;
        address bootstrapAdmitter;
        Parameters params;
    }

    /// @custom:oz-upgrades-unsafe-allow constructor
    constructor(address token_) {
        if (token_ == address(0)) revert CommitteeZeroAddress("token");
        TOKEN = IERC20(token_);
        _disableInitializers();
    }

    function initialize(InitParams calldata p) external initializer {
        if (p.admin == address(0)) revert CommitteeZeroAddress("admin");
        __AccessControl_init();
        __EIP712_init(_EIP712Name(), _EIP712Version());
        __ReentrancyGuardTransient_init();
        __UUPSUpgradeable_init();
        _grantRole(DEFAULT_ADMIN_ROLE, p.admin);
        _grantRole(UPGRADER_ROLE, p.admin);
        _grantRole(MEMBERSHIP_ROLE, p.admin);
        if (p.bootstrapAdmitter != address(0)) _grantRole(MEMBERSHIP_ROLE, p.bootstrapAdmitter);
        _setTreasury(p.treasury);
        _setParameters(p.params);
        _startEpoch(); // epoch 1: empty
    }

    // ================================================================ membership

    /// @inheritdoc IFederationCommittee
    function bond(uint96 amount) external nonReentrant {
        CommitteeStorage storage $ = _getStorage();
        Member storage member = $.memberInfo[msg.sender];
        if (member.slashed) revert MemberSlashed(msg.sender);
        if (amount == 0) revert ZeroBond();
        uint96 total = member.bond + amount;
        if (total < $.params.minBond) revert BondTooLow(msg.sender, total, $.params.minBond);
        member.bond = total;
        emit Bonded(msg.sender, amount, total);
        // Admission by bond size is for accounts that were never members: one that left or was removed comes back
        // only through governance, so neither a removal nor an epoch change can be undone or repeated for free.
        uint96 autoBond = $.params.autoAdmissionBond;
        if (!member.active && member.lastEpoch == 0 && autoBond != 0 && total >= autoBond) _admit(msg.sender);

        TOKEN.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc IFederationCommittee
    function admit(address account) external onlyRole(MEMBERSHIP_ROLE) {
        _admit(account);
    }

    /// @inheritdoc IFederationCommittee
    function remove(address account) external onlyRole(MEMBERSHIP_ROLE) {
        _remove(account);
    }

    /// @inheritdoc IFederationCommittee
    function leave() external {
        _remove(msg.sender);
    }

    /// @inheritdoc IFederationCommittee
    function withdrawBond() external nonReentrant {
        Member storage member = _getStorage().memberInfo[msg.sender];
        if (member.active) revert AlreadyMember(msg.sender);
        if (member.bond == 0) revert NothingBonded(msg.sender);
        if (block.timestamp < member.unbondingAt) revert BondStillLocked(msg.sender, member.unbondingAt);

        uint256 amount = member.bond;
        member.bond = 0;
        emit BondWithdrawn(msg.sender, amount);

        TOKEN.safeTransfer(msg.sender, amount);
    }

    // ================================================================ attestations

    /// @inheritdoc IFederationCommittee
    function attestationDigest(
        address marketplace,
        uint256 escrowId,
        uint256 cumulativeUnits,
        uint64 sequence,
        bytes32 resultDigest,
        uint64 epoch
    ) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(ATTESTATION_TYPEHASH, marketplace, escrowId, cumulativeUnits, sequence, resultDigest, epoch)
            )
        );
    }

    /// @inheritdoc IFederationCommittee
    function batchDigest(address marketplace, bytes32 entriesHash, uint64 epoch) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(BATCH_TYPEHASH, marketplace, entriesHash, epoch)));
    }

    /// @notice Reverts unless `attestation` carries a quorum of the named epoch's members' signatures over this report
    /// for the calling marketplace (`msg.sender`): an attestation made for one marketplace is worthless on another.
    function verifyUsageAttestation(
        uint256 escrowId,
        uint256 cumulativeUnits,
        uint64 sequence,
        bytes32 resultDigest,
        bytes calldata attestation
    ) external view {
        Attestation memory a = abi.decode(attestation, (Attestation));
        _verifyQuorum(attestationDigest(msg.sender, escrowId, cumulativeUnits, sequence, resultDigest, a.epoch), a);
    }

    /// @inheritdoc IUsageAttestationVerifier
    /// @dev Same checks and errors as {verifyUsageAttestation}; the batch is bound to its caller the same way.
    function verifyBatchAttestation(bytes32 entriesHash, bytes calldata attestation) external view {
        Attestation memory a = abi.decode(attestation, (Attestation));
        _verifyQuorum(batchDigest(msg.sender, entriesHash, a.epoch), a);
    }

    /// @inheritdoc IFederationCommittee
    function proveEquivocation(
        address account,
        address marketplace,
        uint256 escrowId,
        uint64 sequence,
        SignedReport calldata a,
        SignedReport calldata b
    ) external nonReentrant {
        if (a.cumulativeUnits == b.cumulativeUnits && a.resultDigest == b.resultDigest) revert NotEquivocation();
        if (
            _signer(marketplace, escrowId, sequence, a) != account
                || _signer(marketplace, escrowId, sequence, b) != account
        ) revert NotEquivocation();
        _slash(account, escrowId, sequence);
    }

    /// @inheritdoc IFederationCommittee
    function proveBatchEquivocation(
        address account,
        address marketplace,
        SignedBatch calldata a,
        SignedBatch calldata b
    ) external nonReentrant {
        (uint256 escrowId, uint64 sequence, uint256 units, bytes32 digest) = _entryAt(a);
        (uint256 escrowIdB, uint64 sequenceB, uint256 unitsB, bytes32 digestB) = _entryAt(b);
        if (escrowId != escrowIdB || sequence != sequenceB || (units == unitsB && digest == digestB)) {
            revert NotEquivocation();
        }
        if (_batchSigner(marketplace, a) != account || _batchSigner(marketplace, b) != account) {
            revert NotEquivocation();
        }
        _slash(account, escrowId, sequence);
    }

    /// @inheritdoc IFederationCommittee
    function proveMixedEquivocation(
        address account,
        address marketplace,
        uint256 escrowId,
        uint64 sequence,
        SignedReport calldata a,
        SignedBatch calldata b
    ) external nonReentrant {
        (uint256 escrowIdB, uint64 sequenceB, uint256 unitsB, bytes32 digestB) = _entryAt(b);
        bool sameContent = a.cumulativeUnits == unitsB && a.resultDigest == digestB;
        if (escrowId != escrowIdB || sequence != sequenceB || sameContent) revert NotEquivocation();
        if (_signer(marketplace, escrowId, sequence, a) != account || _batchSigner(marketplace, b) != account) {
            revert NotEquivocation();
        }
        _slash(account, escrowId, sequence);
    }

    // ================================================================ governance

    /// @inheritdoc IFederationCommittee
    function setParameters(Parameters calldata params) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setParameters(params);
    }

    /// @inheritdoc IFederationCommittee
    function setTreasury(address newTreasury) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setTreasury(newTreasury);
    }

    // ================================================================ views

    function currentEpoch() external view returns (uint64) {
        return _getStorage().currentEpoch;
    }

    function currentMembers() external view returns (address[] memory) {
        return _getStorage().members;
    }

    function getEpoch(uint64 epoch) external view returns (Epoch memory) {
        return _getStorage().epochs[epoch];
    }

    function getMember(address account) external view returns (Member memory) {
        return _getStorage().memberInfo[account];
    }

    function committeeSize() external view returns (uint256) {
        return _getStorage().members.length;
    }

    function faultTolerance() external view returns (uint256) {
        uint256 n = _getStorage().members.length;
        return n == 0 ? 0 : (n - 1) / 3;
    }

    /// @dev floor(2n/3) + 1, the least count above two thirds (= n - f): two quorums share more than n/3 members.
    function quorumFor(uint256 size) public pure returns (uint256) {
        return size * 2 / 3 + 1;
    }

    function getParameters() external view returns (Parameters memory) {
        return _getStorage().params;
    }

    function treasury() external view returns (address) {
        return _getStorage().treasury;
    }

    function token() external view returns (address) {
        return address(TOKEN);
    }

    // ================================================================ internals

    function _signer(address marketplace, uint256 escrowId, uint64 sequence, SignedReport calldata r)
        private
        view
        returns (address)
    {
        bytes32 digest = attestationDigest(marketplace, escrowId, r.cumulativeUnits, sequence, r.resultDigest, r.epoch);
        return ECDSA.recover(digest, r.signature[0], r.signature[1]);
    }

    function _batchSigner(address marketplace, SignedBatch calldata b) private view returns (address) {
        bytes32 digest = batchDigest(marketplace, keccak256(abi.encodePacked(b.entries)), b.epoch);
        return ECDSA.recover(digest, b.signature[0], b.signature[1]);
    }

    /// @dev The position (escrow, sequence) and content (units, result digest) of entry `b.index` of a signed batch.
    function _entryAt(SignedBatch calldata b)
        private
        pure
        returns (uint256 escrowId, uint64 sequence, uint256 cumulativeUnits, bytes32 resultDigest)
    {
        if (b.index >= b.entries.length / 2) revert BatchIndexOutOfRange(b.index, b.entries.length / 2);
        uint256 word = uint256(b.entries[2 * b.index]);
        return (word >> 192, uint64(word >> 128), uint128(word), b.entries[2 * b.index + 1]);
    }

    /// @dev One pass over the signer bitmap's set bits; each member index appears at most once: nobody counts twice.
    function _verifyQuorum(bytes32 digest, Attestation memory a) private view {
        uint256 size = _checkEpoch(a.epoch, a.members);
        uint256 bits = a.signers;
        if (size < 256 && bits >> size != 0) revert SignerOutOfRange(bits, size);
        uint256 count = _popcount(bits);
        if (count != a.signatures.length) revert SignatureCountMismatch(a.signatures.length, count);
        uint256 quorum = quorumFor(size);
        if (count < quorum) revert QuorumNotMet(count, quorum);

        uint256 k = 0;
        for (uint256 i = 0; bits != 0; ++i) {
            if (bits & 1 == 1) {
                bytes32[2] memory sig = a.signatures[k++];
                address member = a.members[i];
                if (_recoverCompact(digest, sig[0], sig[1]) != member || member == address(0)) {
                    revert InvalidMemberSignature(i, member);
                }
            }
            bits >>= 1;
        }
    }

    /// @dev ECDSA.tryRecover(hash, r, vs) without its error tuple (~100 gas a signature): the same EIP-2098 split and
    /// refusal of an upper-half `s`; an invalid signature recovers to 0, refused by the caller's zero check.
    function _recoverCompact(bytes32 digest, bytes32 r, bytes32 vs) private pure returns (address) {
        uint256 s = uint256(vs) & ((1 << 255) - 1);
        if (s > HALF_ORDER) return address(0);
        return ecrecover(digest, uint8(uint256(vs) >> 255) + 27, r, bytes32(s));
    }

    /// @dev Takes the whole bond: `slashRewardBps` of it to a reporter that is an active member (never the slashed
    /// one), everything else to the treasury. Removes the member and revokes the grace of the epoch it was replaced
    /// in, so its signature counts in no epoch from now on.
    function _slash(address account, uint256 escrowId, uint64 sequence) private {
        CommitteeStorage storage $ = _getStorage();
        Member storage member = $.memberInfo[account];
        if (member.slashed) revert MemberSlashed(account);
        if (member.bond == 0 && !member.active) revert NotMember(account);

        uint256 amount = member.bond;
        member.bond = 0;
        member.slashed = true;
        if (member.active) _removeFromList(account); // opens an epoch without it; the replaced one is revoked below
        // Its last epoch is the only one besides the current that could still verify (within the grace period).
        if (member.lastEpoch != 0 && member.lastEpoch + 1 == $.currentEpoch) {
            $.previousEpochRevoked = true;
            emit EpochGraceRevoked(member.lastEpoch);
        }
        // After the removal above `account` is not active, so it can never collect its own reward.
        uint256 reward = $.memberInfo[msg.sender].active ? amount * $.params.slashRewardBps / BPS : 0;
        emit EquivocationSlashed(account, msg.sender, escrowId, sequence, reward, amount - reward);

        if (reward != 0) TOKEN.safeTransfer(msg.sender, reward);
        if (amount - reward != 0) TOKEN.safeTransfer($.treasury, amount - reward);
    }

    /// @dev The epoch must be the current one, or the one it replaced while the grace period after that change lasts
    /// (two changes in quick succession invalidate attestations two epochs old: nodes sign again) and no member of it
    /// has been slashed since. `members` must be exactly the epoch's ordered member list. Returns the member count.
    function _checkEpoch(uint64 epoch, address[] memory members) private view returns (uint256 size) {
        CommitteeStorage storage $ = _getStorage();
        uint64 current = $.currentEpoch;
        if (epoch != current) {
            if (epoch == 0 || epoch > current) revert UnknownEpoch(epoch, current);
            uint48 graceUntil = $.epochChangedAt + $.epochGrace;
            if (epoch + 1 != current || block.timestamp > graceUntil) {
                revert EpochExpired(epoch, $.epochs[epoch].endedAt, graceUntil);
            }
            if ($.previousEpochRevoked) revert EpochRevoked(epoch);
        }
        if (keccak256(abi.encodePacked(members)) != $.epochs[epoch].membersHash) revert MembersMismatch(epoch);
        size = members.length;
        if (size < $.minCommitteeSize) revert CommitteeTooSmall(size, $.minCommitteeSize);
    }

    function _admit(address account) private {
        CommitteeStorage storage $ = _getStorage();
        Member storage member = $.memberInfo[account];
        if (member.slashed) revert MemberSlashed(account);
        if (member.active) revert AlreadyMember(account);
        if (member.bond < $.params.minBond) revert BondTooLow(account, member.bond, $.params.minBond);
        if ($.members.length >= MAX_MEMBERS) revert CommitteeFull($.members.length);

        member.active = true;
        member.unbondingAt = 0;
        $.members.push(account);
        emit MemberAdmitted(account, msg.sender);
        _startEpoch();
    }

    function _remove(address account) private {
        Member storage member = _getStorage().memberInfo[account];
        if (!member.active) revert NotMember(account);
        _removeFromList(account);
    }

    function _removeFromList(address account) private {
        CommitteeStorage storage $ = _getStorage();
        Member storage member = $.memberInfo[account];
        member.active = false;
        member.lastEpoch = $.currentEpoch;
        uint48 unbondingAt = uint48(block.timestamp) + $.params.unbondingDelay;
        member.unbondingAt = unbondingAt;
        address[] storage list = $.members;
        uint256 last = list.length - 1;
        for (uint256 i = 0; i <= last; ++i) {
            if (list[i] == account) {
                list[i] = list[last];
                list.pop();
                break;
            }
        }
        emit MemberRemoved(account, msg.sender, unbondingAt);
        _startEpoch();
    }

    /// @dev Closes the current epoch (it stays verifiable for `epochGrace`) and opens one with the present members.
    function _startEpoch() private {
        CommitteeStorage storage $ = _getStorage();
        uint64 previous = $.currentEpoch;
        if (previous != 0) $.epochs[previous].endedAt = uint48(block.timestamp);
        uint64 epoch = previous + 1;
        $.currentEpoch = epoch;
        $.epochChangedAt = uint48(block.timestamp);
        $.previousEpochRevoked = false;
        address[] memory members = $.members;
        $.epochs[epoch] = Epoch({
            membersHash: keccak256(abi.encodePacked(members)),
            size: uint16(members.length),
            startedAt: uint48(block.timestamp),
            endedAt: 0
        });
        emit EpochStarted(epoch, members, uint16(quorumFor(members.length)));
    }

    function _setParameters(Parameters calldata p) private {
        if (p.slashRewardBps > BPS) revert InvalidParameter("slashRewardBps");
        if (p.autoAdmissionBond != 0 && p.autoAdmissionBond < p.minBond) revert InvalidParameter("autoAdmissionBond");
        if (p.minCommitteeSize < MIN_COMMITTEE_SIZE_FLOOR) {
            revert MinCommitteeSizeTooLow(p.minCommitteeSize, MIN_COMMITTEE_SIZE_FLOOR);
        }
        if (p.minCommitteeSize > MAX_MEMBERS) revert InvalidParameter("minCommitteeSize");
        CommitteeStorage storage $ = _getStorage();
        $.params = p;
        // Copies of the two parameters verification reads, kept in its hot slot.
        $.epochGrace = p.epochGrace;
        $.minCommitteeSize = p.minCommitteeSize;
        emit ParametersUpdated(p);
    }

    function _setTreasury(address newTreasury) private {
        if (newTreasury == address(0)) revert CommitteeZeroAddress("treasury");
        _getStorage().treasury = newTreasury;
        emit TreasuryUpdated(newTreasury);
    }

    function _popcount(uint256 x) private pure returns (uint256 count) {
        // Kernighan: one iteration per set bit (at most MAX_MEMBERS).
        while (x != 0) {
            x &= x - 1;
            ++count;
        }
    }

    function _EIP712Name() internal pure override returns (string memory) {
        return "PRSM Federation";
    }

    function _EIP712Version() internal pure override returns (string memory) {
        return "1";
    }

    function _authorizeUpgrade(address) internal override onlyRole(UPGRADER_ROLE) {}
}
