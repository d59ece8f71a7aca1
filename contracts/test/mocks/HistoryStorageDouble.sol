// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

/// @dev Stand-in for the EIP-2935 history contract: returns the hash stored for a 32-byte block
///      number, and reverts for a block it does not know (as the real one does out of range).
contract HistoryStorageDouble {
    mapping(uint256 => bytes32) internal hashes;

    function set(uint256 blockNumber, bytes32 hash) external {
        hashes[blockNumber] = hash;
    }

    fallback(bytes calldata input) external returns (bytes memory) {
        require(input.length == 32, "history: bad input");
        bytes32 hash = hashes[abi.decode(input, (uint256))];
        require(hash != 0, "history: out of range");
        return abi.encode(hash);
    }
}
