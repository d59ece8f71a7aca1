// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {EthereumTrie} from "@polytope-labs/solidity-merkle-trees/EthereumTrie.sol";
import {StorageValue} from "@polytope-labs/solidity-merkle-trees/trie/Node.sol";

/// @title MptProof
/// @notice One key of an Ethereum Merkle-Patricia trie, proven against its root with Polytope
///         Labs' EIP-1186 verifier (npm package solidity-merkle-trees, installed by `just
///         tools`): the proof nodes are looked up by their keccak hash, so every node on the
///         key's path must be present and unaltered.
/// @dev Outcomes: the key's value (the leaf's RLP payload), or empty bytes for a proven absence
///      (the path ends in an empty slot, a diverging leaf or extension, or the trie is empty).
///      A proof that does not connect the key to `root` (a missing or altered node, a proof of
///      another trie) reverts in the verifier with `Error("Incomplete Proof!")`; a node that is
///      not a trie node reverts with the verifier's decoding error.
library MptProof {
    /// @notice keccak256(rlp("")): the root of an empty trie.
    bytes32 internal constant EMPTY_TRIE_ROOT =
        0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421;

    /// @notice The value stored under `key` in the trie of `root`; empty bytes if proven absent.
    function get(bytes32 root, bytes memory key, bytes[] memory proof) internal pure returns (bytes memory) {
        bytes[] memory keys = new bytes[](1);
        keys[0] = key;
        StorageValue[] memory values = EthereumTrie.VerifyProof(root, proof, keys);
        return values[0].value;
    }
}
