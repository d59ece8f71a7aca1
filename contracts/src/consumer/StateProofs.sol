// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {RLPReader} from "@polytope-labs/solidity-merkle-trees/trie/ethereum/RLPReader.sol";
import {MptProof} from "./MptProof.sol";

/// @title StateProofs
/// @notice Accounts and storage slots of an attested chain, proven against a state root with
///         the `accountProof` and `storageProof` of `eth_getProof` (EIP-1186).
/// @dev The state trie is keyed by keccak256(address), a storage trie by keccak256(slot). A
///      proven absence is an answer, not an error: an account that does not exist comes back
///      with `exists == false`, zero nonce and balance, the empty storage root (so any slot of
///      it proves zero against it) and a zero code hash (an existing account without code has
///      keccak256("")); an unset slot is 0.
library StateProofs {
    using RLPReader for bytes;
    using RLPReader for RLPReader.RLPItem;

    /// @notice An account of the state trie.
    struct Account {
        bool exists;
        uint64 nonce;
        uint256 balance;
        bytes32 storageRoot;
        bytes32 codeHash;
    }

    /// @notice The proven leaf is not an account (RLP list of nonce, balance, storageRoot, codeHash).
    error MalformedAccount(address account);
    /// @notice The proven leaf is not a storage value (RLP string of at most 32 bytes).
    error MalformedStorageValue(bytes32 slot);

    /// @notice Account `account` in the state trie of `stateRoot`, from `eth_getProof`'s `accountProof`.
    function verifyAccount(bytes32 stateRoot, address account, bytes[] memory accountProof)
        internal
        pure
        returns (Account memory acct)
    {
        bytes memory leaf =
            MptProof.get(stateRoot, abi.encodePacked(keccak256(abi.encodePacked(account))), accountProof);
        if (leaf.length == 0) {
            acct.storageRoot = MptProof.EMPTY_TRIE_ROOT;
            return acct;
        }
        RLPReader.RLPItem memory item = leaf.toRlpItem();
        if (!item.isList()) revert MalformedAccount(account);
        RLPReader.RLPItem[] memory fields = item.toList();
        if (
            fields.length != 4 || fields[0].len > 9 || fields[1].len > 33 || fields[2].len != 33
                || fields[3].len != 33
        ) {
            revert MalformedAccount(account);
        }
        acct.exists = true;
        // casting to uint64 is safe: the nonce item is at most 8 bytes (checked above).
        // forge-lint: disable-next-line(unsafe-typecast)
        acct.nonce = uint64(fields[0].toUint());
        acct.balance = fields[1].toUint();
        acct.storageRoot = bytes32(fields[2].toUint());
        acct.codeHash = bytes32(fields[3].toUint());
    }

    /// @notice Slot `slot` of the storage trie of `storageRoot` (an account's `storageRoot`),
    ///         from one entry of `eth_getProof`'s `storageProof`; 0 if the slot is unset.
    function verifyStorage(bytes32 storageRoot, bytes32 slot, bytes[] memory storageProof)
        internal
        pure
        returns (uint256)
    {
        bytes memory leaf =
            MptProof.get(storageRoot, abi.encodePacked(keccak256(abi.encodePacked(slot))), storageProof);
        if (leaf.length == 0) return 0;
        RLPReader.RLPItem memory item = leaf.toRlpItem();
        if (item.isList() || item.len > 33) revert MalformedStorageValue(slot);
        return item.toUint();
    }

    /// @notice Slot `slot` of `account`, both proven against `stateRoot` (0 for an absent account).
    function verifyAccountStorage(
        bytes32 stateRoot,
        address account,
        bytes[] memory accountProof,
        bytes32 slot,
        bytes[] memory storageProof
    ) internal pure returns (uint256) {
        Account memory acct = verifyAccount(stateRoot, account, accountProof);
        if (!acct.exists) return 0;
        return verifyStorage(acct.storageRoot, slot, storageProof);
    }
}
