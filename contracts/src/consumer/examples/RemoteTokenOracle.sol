// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {IAvsTaskManager} from "../../interfaces/IAvsTaskManager.sol";
import {AttestedCheckpoints} from "../AttestedCheckpoints.sol";
import {StateProofs} from "../StateProofs.sol";
import {ReceiptProofs} from "../ReceiptProofs.sol";

/// @title RemoteTokenOracle
/// @notice Example consumer: reads an ERC-20 that lives on another chain, at any checkpoint the
///         AVS finalized, with no new signatures: a holder's balance from a storage proof and a
///         `Transfer` event from a receipt proof. Proofs come from `avs-node proof storage` and
///         `avs-node proof receipt` (their `--json` output has these arguments).
/// @dev One oracle per remote token. `balancesSlot` is the storage slot of the token's
///      `mapping(address => uint256)` of balances (0 for OpenZeppelin's ERC20): the balance of
///      `holder` is at keccak256(abi.encode(holder, balancesSlot)). It is fixed at deployment so
///      a caller cannot point the oracle at another slot.
contract RemoteTokenOracle {
    /// @notice keccak256("Transfer(address,address,uint256)")
    bytes32 public constant TRANSFER_TOPIC =
        0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef;

    IAvsTaskManager public immutable taskManager;
    uint64 public immutable chainId;
    address public immutable token;
    uint256 public immutable balancesSlot;
    /// @notice Whether values from checkpoints still inside their challenge window are served.
    bool public immutable acceptChallengeable;

    /// @notice The proven log is not a `Transfer` of this token.
    error NotATransfer(uint256 txIndex, uint256 logIndex);
    /// @notice The proven transaction reverted: its logs never happened.
    error TransactionFailed(uint256 txIndex);

    constructor(
        IAvsTaskManager taskManager_,
        uint64 chainId_,
        address token_,
        uint256 balancesSlot_,
        bool acceptChallengeable_
    ) {
        taskManager = taskManager_;
        chainId = chainId_;
        token = token_;
        balancesSlot = balancesSlot_;
        acceptChallengeable = acceptChallengeable_;
    }

    /// @notice `holder`'s balance of the token at `blockNumber` of the remote chain.
    /// @param accountProof the token's `accountProof` from eth_getProof at that block
    /// @param storageProof the `proof` of the balance slot (see `balanceSlotOf`)
    function balanceOf(
        address holder,
        uint64 blockNumber,
        bytes[] calldata accountProof,
        bytes[] calldata storageProof
    ) external view returns (uint256) {
        bytes32 stateRoot =
            AttestedCheckpoints.finalized(taskManager, chainId, blockNumber, acceptChallengeable).stateRoot;
        return
            StateProofs.verifyAccountStorage(
                stateRoot, token, accountProof, balanceSlotOf(holder), storageProof
            );
    }

    /// @notice The `Transfer` that log `logIndex` of transaction `txIndex` at `blockNumber` emitted.
    /// @param receiptProof the receipts-trie proof of transaction `txIndex`'s receipt
    function transferAt(uint64 blockNumber, uint256 txIndex, uint256 logIndex, bytes[] calldata receiptProof)
        external
        view
        returns (address from, address to, uint256 amount)
    {
        bytes32 receiptsRoot =
            AttestedCheckpoints.finalized(taskManager, chainId, blockNumber, acceptChallengeable).receiptsRoot;
        ReceiptProofs.Receipt memory receipt =
            ReceiptProofs.verifyReceipt(receiptsRoot, txIndex, receiptProof);
        if (!receipt.success) revert TransactionFailed(txIndex);
        ReceiptProofs.Log memory log = ReceiptProofs.log(receipt, logIndex);
        if (log.emitter != token || log.topics.length != 3 || log.topics[0] != TRANSFER_TOPIC) {
            revert NotATransfer(txIndex, logIndex);
        }
        return (
            address(uint160(uint256(log.topics[1]))),
            address(uint160(uint256(log.topics[2]))),
            abi.decode(log.data, (uint256))
        );
    }

    /// @notice The storage slot of `holder`'s balance in the remote token.
    function balanceSlotOf(address holder) public view returns (bytes32) {
        return keccak256(abi.encode(holder, balancesSlot));
    }
}
