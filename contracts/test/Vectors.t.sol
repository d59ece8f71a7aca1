// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {Test} from "./utils/Test.sol";
import {AvsFixture} from "./utils/AvsFixture.sol";
import {IAvsTaskManager} from "../src/interfaces/IAvsTaskManager.sol";
import {BN254} from "../src/libraries/BN254.sol";
import {BLSSignatureChecker} from "../src/BLSSignatureChecker.sol";
import {
    IRegistryCoordinator,
    IStakeRegistry,
    IBLSApkRegistry
} from "../src/interfaces/IEigenLayerMiddleware.sol";
import {IDelegationManager} from "../src/interfaces/IEigenLayerCore.sol";

/// @title VectorsTest
/// @notice Cross-language check: BN254 vectors written by the Rust BLS crate
///         (`cargo run -p avs-bls --example bn254-vectors > contracts/test/vectors/bn254.json`)
///         must hash, pair and verify identically here.
contract VectorsTest is Test {
    using BN254 for BN254.G1Point;

    string internal json;
    BLSSignatureChecker internal checker;

    function setUp() public {
        json = vm.readFile(string.concat(vm.projectRoot(), "/test/vectors/bn254.json"));
        // trySignatureAndApkVerify reads no registry, so any addresses do.
        checker = new BLSSignatureChecker(
            IRegistryCoordinator(address(1)),
            IStakeRegistry(address(2)),
            IBLSApkRegistry(address(3)),
            IDelegationManager(address(4))
        );
    }

    function testHashToG1MatchesRust() public view {
        for (uint256 i = 0; i < 32; i++) {
            string memory k = string.concat(".hashToG1[", vm.toString(i), "]");
            BN254.G1Point memory h = BN254.hashToG1(vm.parseJsonBytes32(json, string.concat(k, ".digest")));
            assertEq(h.X, vm.parseJsonUint(json, string.concat(k, ".X")), string.concat(k, ".X"));
            assertEq(h.Y, vm.parseJsonUint(json, string.concat(k, ".Y")), string.concat(k, ".Y"));
        }
        assertFalse(vm.keyExistsJson(json, ".hashToG1[32]"), "exactly 32 hashToG1 vectors");
    }

    function testSignaturesVerifyExactlyWhenValid() public view {
        uint256 invalid;
        for (uint256 i = 0; i < 8; i++) {
            string memory k = string.concat(".signatures[", vm.toString(i), "]");
            invalid += _checkVector(k, ".pkG1", ".pkG2") ? 0 : 1;
        }
        assertTrue(invalid >= 2, "vectors include invalid signatures");
    }

    function testAggregatesVerifyExactlyWhenValid() public view {
        uint256 invalid;
        for (uint256 i = 0; i < 3; i++) {
            string memory k = string.concat(".aggregates[", vm.toString(i), "]");
            invalid += _checkVector(k, ".apkG1", ".apkG2") ? 0 : 1;
        }
        assertEq(invalid, 1, "one invalid aggregate");
    }

    /// @dev Checks one vector both ways (plain pairing and the checker's gamma form) against its
    ///      `valid` flag; returns the flag.
    function _checkVector(string memory k, string memory g1Key, string memory g2Key)
        internal
        view
        returns (bool valid)
    {
        bytes32 digest = vm.parseJsonBytes32(json, string.concat(k, ".digest"));
        BN254.G1Point memory pk = _g1(string.concat(k, g1Key));
        BN254.G2Point memory pkG2 = _g2(string.concat(k, g2Key));
        BN254.G1Point memory sigma = _g1(string.concat(k, ".sigma"));
        valid = vm.parseJsonBool(json, string.concat(k, ".valid"));

        // The G1 and G2 keys belong together: e(pk, -G2) * e(G1, pkG2) == 1.
        assertTrue(
            BN254.pairing(pk, BN254.negGeneratorG2(), BN254.generatorG1(), pkG2),
            string.concat(k, ": keys match")
        );
        bool plain = BN254.pairing(sigma, BN254.negGeneratorG2(), BN254.hashToG1(digest), pkG2);
        assertTrue(plain == valid, string.concat(k, ": e(sigma,-G2) e(H(m),pkG2) == 1 iff valid"));
        (bool ok, bool gammaForm) = checker.trySignatureAndApkVerify(digest, pk, pkG2, sigma);
        assertTrue(ok, string.concat(k, ": pairing precompile ran"));
        assertTrue(gammaForm == valid, string.concat(k, ": on-chain check form agrees"));
    }

    function _g1(string memory k) internal view returns (BN254.G1Point memory) {
        return BN254.G1Point(
            vm.parseJsonUint(json, string.concat(k, ".X")), vm.parseJsonUint(json, string.concat(k, ".Y"))
        );
    }

    function _g2(string memory k) internal view returns (BN254.G2Point memory) {
        return BN254.G2Point(
            [
                vm.parseJsonUint(json, string.concat(k, ".X[0]")),
                vm.parseJsonUint(json, string.concat(k, ".X[1]"))
            ],
            [
                vm.parseJsonUint(json, string.concat(k, ".Y[0]")),
                vm.parseJsonUint(json, string.concat(k, ".Y[1]"))
            ]
        );
    }
}

/// @title AttestationVectorsTest
/// @notice Cross-language check of the signed message: vectors written by the Rust bindings
///         (`cargo run -p avs-contracts --example attestation_vectors >
///         contracts/test/vectors/attestation.json`) must give the same task struct hash here,
///         in the contract and written out from the type strings, and the same EIP-712 digest.
contract AttestationVectorsTest is AvsFixture {
    uint256 internal constant VECTORS = 5;

    function setUp() public {
        _deployAvs(1);
    }

    function testAttestationDigestsMatchRust() public view {
        string memory json = vm.readFile(string.concat(vm.projectRoot(), "/test/vectors/attestation.json"));
        for (uint256 i = 0; i < VECTORS; i++) {
            string memory k = string.concat(".attestations[", vm.toString(i), "]");
            IAvsTaskManager.Task memory task = _task(json, string.concat(k, ".task"));
            IAvsTaskManager.TaskResponse memory response =
                _vectorResponse(json, string.concat(k, ".response"));
            bytes32 taskHash = vm.parseJsonBytes32(json, string.concat(k, ".taskHash"));
            assertEq(_taskHash(task), taskHash, string.concat(k, ".taskHash, from the type string"));
            assertEq(tm.taskHash(task), taskHash, string.concat(k, ".taskHash, the contract"));
            bytes32 digest = _digestFor(
                vm.parseJsonAddress(json, string.concat(k, ".taskManager")),
                vm.parseJsonUint(json, string.concat(k, ".chainId")),
                task,
                response
            );
            assertEq(
                digest, vm.parseJsonBytes32(json, string.concat(k, ".digest")), string.concat(k, ".digest")
            );
        }
    }

    function _task(string memory json, string memory k) internal pure returns (IAvsTaskManager.Task memory) {
        return IAvsTaskManager.Task({
            chainId: uint64(vm.parseJsonUint(json, string.concat(k, ".chainId"))),
            blockNumber: uint64(vm.parseJsonUint(json, string.concat(k, ".blockNumber"))),
            taskCreatedBlock: uint32(vm.parseJsonUint(json, string.concat(k, ".taskCreatedBlock"))),
            taskCreatedParentHash: vm.parseJsonBytes32(json, string.concat(k, ".taskCreatedParentHash")),
            quorumThresholdPercentage: uint32(
                vm.parseJsonUint(json, string.concat(k, ".quorumThresholdPercentage"))
            ),
            responseWindowBlocks: uint32(vm.parseJsonUint(json, string.concat(k, ".responseWindowBlocks"))),
            challengeWindowBlocks: uint32(vm.parseJsonUint(json, string.concat(k, ".challengeWindowBlocks"))),
            quorumNumbers: vm.parseJsonBytes(json, string.concat(k, ".quorumNumbers"))
        });
    }

    function _vectorResponse(string memory json, string memory k)
        internal
        pure
        returns (IAvsTaskManager.TaskResponse memory)
    {
        return IAvsTaskManager.TaskResponse({
            referenceTaskIndex: uint32(vm.parseJsonUint(json, string.concat(k, ".referenceTaskIndex"))),
            blockHash: vm.parseJsonBytes32(json, string.concat(k, ".blockHash")),
            stateRoot: vm.parseJsonBytes32(json, string.concat(k, ".stateRoot")),
            receiptsRoot: vm.parseJsonBytes32(json, string.concat(k, ".receiptsRoot"))
        });
    }
}
