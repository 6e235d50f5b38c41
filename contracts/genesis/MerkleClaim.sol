// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {BitMaps} from "@openzeppelin/contracts/utils/structs/BitMaps.sol";

/// @title MerkleClaim
/// @notice A genesis allocation for early users: each `(index, account, amount)` leaf of a Merkle tree (built with
/// OpenZeppelin's StandardMerkleTree, leaf = keccak256(bytes.concat(keccak256(abi.encode(index, account, amount)))))
/// can be claimed once, by anyone, to its account, until `CLAIM_DEADLINE`; afterwards anyone returns what is left
/// to the treasury. Not upgradeable and without an owner: nobody can change the tree or take the tokens.
contract MerkleClaim {
    using SafeERC20 for IERC20;
    using BitMaps for BitMaps.BitMap;

    IERC20 public immutable TOKEN;
    bytes32 public immutable MERKLE_ROOT;
    uint256 public immutable CLAIM_DEADLINE;
    address public immutable TREASURY;

    BitMaps.BitMap private _claimed;

    event Claimed(uint256 indexed index, address indexed account, uint256 amount);
    event Swept(address indexed treasury, uint256 amount);

    error MerkleClaimZeroAddress(string parameter);
    error AlreadyClaimed(uint256 index);
    error InvalidProof(uint256 index, address account, uint256 amount);
    error ClaimPeriodOver(uint256 deadline);
    error ClaimPeriodNotOver(uint256 deadline);

    constructor(address token, bytes32 merkleRoot, uint256 claimDeadline, address treasury) {
        if (token == address(0)) revert MerkleClaimZeroAddress("token");
        if (treasury == address(0)) revert MerkleClaimZeroAddress("treasury");
        TOKEN = IERC20(token);
        MERKLE_ROOT = merkleRoot;
        CLAIM_DEADLINE = claimDeadline;
        TREASURY = treasury;
    }

    function isClaimed(uint256 index) external view returns (bool) {
        return _claimed.get(index);
    }

    /// @notice Sends `amount` to `account` if the leaf is in the tree and not claimed yet. Anyone may submit it.
    function claim(uint256 index, address account, uint256 amount, bytes32[] calldata proof) external {
        if (block.timestamp > CLAIM_DEADLINE) revert ClaimPeriodOver(CLAIM_DEADLINE);
        if (_claimed.get(index)) revert AlreadyClaimed(index);
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(index, account, amount))));
        if (!MerkleProof.verifyCalldata(proof, MERKLE_ROOT, leaf)) revert InvalidProof(index, account, amount);

        _claimed.set(index);
        emit Claimed(index, account, amount);

        TOKEN.safeTransfer(account, amount);
    }

    /// @notice After the deadline, returns every unclaimed token to the treasury. Anyone may call.
    function sweep() external {
        if (block.timestamp <= CLAIM_DEADLINE) revert ClaimPeriodNotOver(CLAIM_DEADLINE);
        uint256 amount = TOKEN.balanceOf(address(this));
        emit Swept(TREASURY, amount);

        TOKEN.safeTransfer(TREASURY, amount);
    }
}
