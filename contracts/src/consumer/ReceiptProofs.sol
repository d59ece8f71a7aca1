// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {RLPReader} from "@polytope-labs/solidity-merkle-trees/trie/ethereum/RLPReader.sol";
import {MptProof} from "./MptProof.sol";

/// @title ReceiptProofs
/// @notice Transaction receipts and their logs, proven against a block's receipts root: an
///         event emitted on the attested chain, checked on this one.
/// @dev The receipts trie is keyed by rlp(transaction index) and holds each receipt's EIP-2718
///      encoding: `type || rlp([status, cumulativeGasUsed, logsBloom, logs, ...])` for typed
///      transactions (EIP-2930, 1559, 4844, 7702, and OP-stack deposits 0x7e, whose receipts
///      append the deposit nonce and receipt version), the bare list for legacy ones. Receipts
///      from before Byzantium (a state root instead of a status) are refused. Nobody serves
///      receipt proofs over JSON-RPC: `avs-node proof receipt` builds them from the block's
///      receipts (see the README, "For consumers").
library ReceiptProofs {
    using RLPReader for bytes;
    using RLPReader for RLPReader.RLPItem;

    /// @notice A proven receipt. `logs` is the RLP list of its logs; read them with `log`.
    struct Receipt {
        uint8 txType;
        bool success;
        uint64 cumulativeGasUsed;
        RLPReader.RLPItem logs;
    }

    /// @notice A log: the emitting contract, its topics and data.
    struct Log {
        address emitter;
        bytes32[] topics;
        bytes data;
    }

    /// @notice The receipts trie proves that the block has no transaction at `txIndex`.
    error ReceiptAbsent(uint256 txIndex);
    /// @notice The proven leaf is not a post-Byzantium receipt.
    error MalformedReceipt(uint256 txIndex);
    /// @notice The receipt has `logCount` logs; `logIndex` (within the receipt) is beyond them.
    error LogIndexOutOfRange(uint256 logIndex, uint256 logCount);

    /// @notice Receipt number `txIndex` of the block whose receipts root is `receiptsRoot`.
    function verifyReceipt(bytes32 receiptsRoot, uint256 txIndex, bytes[] memory proof)
        internal
        pure
        returns (Receipt memory receipt)
    {
        bytes memory leaf = MptProof.get(receiptsRoot, _indexKey(txIndex), proof);
        if (leaf.length == 0) revert ReceiptAbsent(txIndex);
        RLPReader.RLPItem memory item = leaf.toRlpItem();
        // EIP-2718: a first byte below 0x7f is the type; a legacy receipt is an RLP list (>= 0xc0).
        uint8 first = uint8(leaf[0]);
        if (first <= 0x7f) {
            receipt.txType = first;
            item = RLPReader.RLPItem(item.len - 1, item.memPtr + 1);
        }
        if (!item.isList()) revert MalformedReceipt(txIndex);
        RLPReader.RLPItem[] memory fields = item.toList();
        // status (0x80 or 0x01), cumulative gas, a 256-byte bloom, the logs.
        if (fields.length < 4 || fields[0].len != 1 || fields[1].len > 9 || fields[3].isList() == false) {
            revert MalformedReceipt(txIndex);
        }
        receipt.success = fields[0].toUint() == 1;
        // casting to uint64 is safe: the item is at most 8 bytes (checked above).
        // forge-lint: disable-next-line(unsafe-typecast)
        receipt.cumulativeGasUsed = uint64(fields[1].toUint());
        receipt.logs = fields[3];
    }

    /// @notice How many logs `receipt` has.
    function logCount(Receipt memory receipt) internal pure returns (uint256) {
        return receipt.logs.toList().length;
    }

    /// @notice Log number `logIndex` of `receipt` (counted within the receipt, from 0).
    function log(Receipt memory receipt, uint256 logIndex) internal pure returns (Log memory out) {
        RLPReader.RLPItem[] memory logs = receipt.logs.toList();
        if (logIndex >= logs.length) revert LogIndexOutOfRange(logIndex, logs.length);
        RLPReader.RLPItem[] memory fields = logs[logIndex].toList();
        out.emitter = fields[0].toAddress();
        RLPReader.RLPItem[] memory topics = fields[1].toList();
        out.topics = new bytes32[](topics.length);
        for (uint256 i = 0; i < topics.length; i++) {
            out.topics[i] = bytes32(topics[i].toUintStrict());
        }
        out.data = fields[2].toBytes();
    }

    /// @dev The receipts trie key of a transaction index: its RLP encoding (big-endian bytes
    ///      without leading zeros, behind a length prefix; 0 is the empty string).
    function _indexKey(uint256 txIndex) private pure returns (bytes memory) {
        if (txIndex == 0) return hex"80";
        uint256 len = 32;
        while (txIndex >> (8 * (len - 1)) == 0) len--;
        bytes32 word = bytes32(txIndex);
        bytes memory digits = new bytes(len);
        for (uint256 i = 0; i < len; i++) {
            digits[i] = word[32 - len + i];
        }
        if (txIndex < 0x80) return digits;
        // casting to uint8 is safe: len <= 32.
        // forge-lint: disable-next-line(unsafe-typecast)
        return bytes.concat(bytes1(uint8(0x80 + len)), digits);
    }
}
